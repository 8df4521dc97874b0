import { randomBytes, randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import cliProgress from 'cli-progress';
import { UpcatError, type ErrorCode } from '../errors.js';
import { DEFAULT_IDEMPOTENCY } from '../publish/idempotency.js';
import type { PublishAnswer } from '../publish/publish-service.js';
import { STATUS_OF } from '../server/middleware/errors.js';
import { CHUNK_BYTES } from '../storage/blobs/pool.js';
import { formatBytes, progressReporter } from './progress.js';

/** What a remote publish answered: the shape `upcat publish --json` prints, and whether it is new. */
export interface RemotePublishResult extends PublishAnswer {
  created: boolean;
}

export interface UploadOptions {
  /** The site's base URL (`--server`). */
  server: URL;
  token: string;
  file: string;
  fileName: string;
  size: number;
  manifest: unknown;
  /** Progress on stderr: a bar on a terminal, a line every 10% otherwise. */
  progress: boolean;
  /** Attempts in all after a dropped connection or an overloaded server; default 5. */
  attempts?: number;
  /** First back-off delay, doubled per attempt; default 500 ms. */
  backoffMs?: number;
  /**
   * How long an `in_progress` answer (the key held by an earlier attempt) is retried; default a
   * little over the server's lease, the time a crashed node holds a key.
   */
  busyWaitMs?: number;
}

/** No byte either way for this long: the connection is given up (and retried). */
const IDLE_TIMEOUT_MS = 120_000;
const MAX_ANSWER_BYTES = 1024 * 1024;
/** A key held by a crashed node is free once its lease expires; wait that long, and a margin. */
export const BUSY_WAIT_MS = DEFAULT_IDEMPOTENCY.leaseMs + 30_000;
/** Longest pause between two attempts while the key is busy. */
const BUSY_MAX_DELAY_MS = 15_000;
/**
 * Largest manifest sent in the `Upcat-Manifest` header of the raw body form (base64): proxies
 * commonly cap a header line at 8 KiB. A larger manifest goes in a multipart form.
 */
const MAX_MANIFEST_HEADER = 8 * 1024;

/**
 * `upcat publish --server` (issue 7): streams the payload to `POST /v1/updates` (the raw body
 * form, or multipart for a large manifest: docs/PROTOCOL.md) with a Content-Length, so the server
 * can refuse an over-limit upload before it starts. One Idempotency-Key is made per command and
 * sent with every attempt, so a retry after a dropped connection never publishes twice: the
 * server answers a retry of a finished publish with the first answer, and one still running
 * elsewhere with `in_progress`, which is waited out.
 */
export async function uploadPublish(options: UploadOptions): Promise<RemotePublishResult> {
  const key = randomUUID();
  const attempts = options.attempts ?? 5;
  const backoffMs = options.backoffMs ?? 500;
  const busyWaitMs = options.busyWaitMs ?? BUSY_WAIT_MS;
  let failures = 0;
  let busySince: number | undefined;
  for (let busy = 0; ;) {
    let delay: number;
    try {
      return await uploadOnce(options, key);
    } catch (err) {
      if (err instanceof BusyError) {
        // Not a failure of this attempt: an earlier one (maybe on a node that crashed) still
        // holds the key. Its lease runs out, so wait for that, bounded, and say so.
        busySince ??= Date.now();
        const left = busySince + busyWaitMs - Date.now();
        if (left <= 0) {
          throw new UpcatError(
            'in_progress',
            `${options.server.origin}: ${err.message} (still busy after ${Math.round(busyWaitMs / 1000)} s)`,
          );
        }
        busy++;
        delay = Math.min(jitter(backoffMs * 2 ** (busy - 1)), BUSY_MAX_DELAY_MS, left);
        if (options.progress) {
          process.stderr.write(
            `server busy with an earlier attempt of this publish (${err.message}); retrying in ${seconds(delay)} s (waiting up to ${seconds(left)} s more)\n`,
          );
        }
      } else {
        failures++;
        if (!retryable(err) || failures >= attempts) throw finalError(err, options.server);
        delay = jitter(backoffMs * 2 ** (failures - 1));
        if (options.progress) {
          process.stderr.write(
            `upload failed (${describe(err)}); retrying in ${seconds(delay)} s (attempt ${failures + 1} of ${attempts})\n`,
          );
        }
      }
    }
    await new Promise((resolve) => setTimeout(resolve, delay));
  }
}

function jitter(ms: number): number {
  return ms * (0.75 + Math.random() / 2);
}

function seconds(ms: number): string {
  return (ms / 1000).toFixed(1);
}

/** The server holds the Idempotency-Key for a request still running (409 `in_progress`). */
class BusyError extends Error {}

/** A failure worth another attempt with the same key. */
class RetryableError extends Error {}

function retryable(err: unknown): boolean {
  return err instanceof RetryableError;
}

function finalError(err: unknown, server: URL): Error {
  if (err instanceof UpcatError) return err;
  return new UpcatError('internal', `cannot publish to ${server.origin}: ${describe(err)}`, {
    cause: err,
  });
}

function describe(err: unknown): string {
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && !(err instanceof UpcatError)) return code;
  return err instanceof Error ? err.message : String(err);
}

async function uploadOnce(options: UploadOptions, key: string): Promise<RemotePublishResult> {
  const form = bodyForm(options.fileName, options.manifest);
  const url = new URL(`v1/updates${form.query}`, options.server);
  const client = url.protocol === 'https:' ? https : http;
  const req = client.request(url, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${options.token}`,
      accept: 'application/json',
      ...form.headers,
      'content-length': String(form.head.length + options.size + form.tail.length),
      'idempotency-key': key,
    },
  });
  req.setTimeout(IDLE_TIMEOUT_MS, () =>
    req.destroy(Object.assign(new Error('no progress in time'), { code: 'ETIMEDOUT' })),
  );
  const answer = new Promise<{ status: number; body: string }>((resolve, reject) => {
    req.once('response', (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size <= MAX_ANSWER_BYTES) chunks.push(chunk);
      });
      res.once('end', () =>
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
      );
      res.once('error', (err) => reject(new RetryableError(describe(err))));
    });
    req.once('error', (err) => reject(new RetryableError(describe(err))));
  });
  answer.catch(() => undefined); // awaited below, after the body is sent (or fails)

  const progress = progressOf(options);
  let sent = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      sent += chunk.length;
      progress.update(sent);
      done(null, chunk);
    },
  });
  const payload = createReadStream(options.file, { highWaterMark: CHUNK_BYTES });
  // An early refusal (401, 413...) ends the upload instead of sending the rest for nothing.
  answer.then(
    (a) => {
      if (a.status >= 300) payload.destroy(new Error(`answered HTTP ${a.status}`));
    },
    () => undefined,
  );
  try {
    if (form.head.length > 0) req.write(form.head);
    await pipeline(
      payload,
      counter,
      async function* (source: AsyncIterable<Buffer>) {
        yield* source;
        if (form.tail.length > 0) yield form.tail;
      },
      req,
    );
  } catch (err) {
    progress.stop();
    // The server may have answered early (an error) and closed: its answer says more.
    const early = await Promise.race([
      answer.catch(() => undefined),
      new Promise<undefined>((resolve) => setTimeout(resolve, 200, undefined)),
    ]);
    if (early !== undefined) return interpret(early, url);
    if (
      (err as { code?: unknown }).code === 'ENOENT' ||
      (err as { code?: unknown }).code === 'EISDIR'
    )
      throw new UpcatError('invalid_input', `payload ${options.file}: ${describe(err)}`);
    throw new RetryableError(describe(err));
  }
  progress.stop();
  return interpret(await answer, url);
}

/** A 2xx is the result; a busy key, a gateway or an overloaded server is retried; else an error. */
function interpret(answer: { status: number; body: string }, url: URL): RemotePublishResult {
  let parsed: unknown;
  try {
    parsed = JSON.parse(answer.body) as unknown;
  } catch {
    parsed = undefined;
  }
  if (answer.status === 200 || answer.status === 201) {
    const body = parsed as Partial<PublishAnswer> | undefined;
    if (typeof body?.updateId !== 'string' || typeof body.catalogVersion !== 'number')
      throw new UpcatError('integrity', `${url.origin}: the answer is not a publish result`);
    return { ...(body as PublishAnswer), created: answer.status === 201 };
  }
  const error = (parsed as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
  const code = typeof error?.code === 'string' && error.code in STATUS_OF ? error.code : undefined;
  const message =
    typeof error?.message === 'string'
      ? error.message.replace(/\p{Cc}+/gu, ' ').slice(0, 2000)
      : `HTTP ${answer.status}`;
  if (code === 'in_progress') throw new BusyError(message);
  if ([502, 503, 504].includes(answer.status)) throw new RetryableError(message);
  throw new UpcatError(
    (code ?? statusCode(answer.status)) as ErrorCode,
    `${url.origin}: ${message}`,
  );
}

function statusCode(status: number): ErrorCode {
  if (status === 401) return 'unauthorized';
  if (status === 403) return 'forbidden';
  if (status === 413) return 'too_large';
  return status < 500 ? 'invalid_input' : 'internal';
}

interface BodyForm {
  query: string;
  headers: Record<string, string>;
  /** The bytes before and after the payload's. */
  head: Buffer;
  tail: Buffer;
}

/**
 * The raw form (docs/PROTOCOL.md): the body is the payload, the manifest in a header, so the
 * server streams it to disk without scanning for a boundary. A manifest too large for a header
 * is sent in a multipart form instead.
 */
function bodyForm(fileName: string, manifest: unknown): BodyForm {
  const encoded = Buffer.from(JSON.stringify(manifest)).toString('base64');
  if (encoded.length > MAX_MANIFEST_HEADER) {
    const form = multipartFrame(fileName, manifest);
    return { query: '', headers: { 'content-type': form.contentType }, ...form };
  }
  return {
    query: `?fileName=${encodeURIComponent(fileName)}`,
    headers: { 'content-type': 'application/octet-stream', 'upcat-manifest': encoded },
    head: Buffer.alloc(0),
    tail: Buffer.alloc(0),
  };
}

/** The bytes around the payload: the manifest part, the payload part's header, the closing boundary. */
function multipartFrame(
  fileName: string,
  manifest: unknown,
): { contentType: string; head: Buffer; tail: Buffer } {
  const boundary = `upcat-${randomBytes(16).toString('hex')}`;
  const head = Buffer.from(
    [
      `--${boundary}`,
      'Content-Disposition: form-data; name="manifest"',
      'Content-Type: application/json',
      '',
      JSON.stringify(manifest),
      `--${boundary}`,
      `Content-Disposition: form-data; name="payload"; ${filenameParam(fileName)}`,
      'Content-Type: application/octet-stream',
      '',
      '',
    ].join('\r\n'),
  );
  return {
    contentType: `multipart/form-data; boundary=${boundary}`,
    head,
    tail: Buffer.from(`\r\n--${boundary}--\r\n`),
  };
}

/** A plain quoted name when it is safe ASCII, else the RFC 5987 form (which busboy reads). */
function filenameParam(name: string): string {
  if (/^[ !#-[\]-~]+$/.test(name)) return `filename="${name}"`;
  return `filename*=UTF-8''${encodeURIComponent(name)}`;
}

interface Progress {
  update(done: number): void;
  stop(): void;
}

function progressOf(options: UploadOptions): Progress {
  if (!options.progress) return { update: () => undefined, stop: () => undefined };
  if (process.stderr.isTTY === true) {
    const bar = new cliProgress.SingleBar(
      {
        stream: process.stderr,
        format: 'uploading [{bar}] {percentage}% | {done} of {size} | ETA {eta_formatted}',
        hideCursor: true,
      },
      cliProgress.Presets.shades_classic,
    );
    bar.start(options.size, 0, { done: formatBytes(0), size: formatBytes(options.size) });
    return {
      update: (done) => bar.update(done, { done: formatBytes(done) }),
      stop: () => bar.stop(),
    };
  }
  const report = progressReporter('uploading', true, 0);
  report(0, options.size);
  return { update: (done) => report(done, options.size), stop: () => undefined };
}
