import { randomBytes, randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import cliProgress from 'cli-progress';
import { UpcatError, type ErrorCode } from '../errors.js';
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
  /** Attempts in all (a dropped connection or a busy key is retried); default 5. */
  attempts?: number;
  /** First back-off delay, doubled per attempt; default 500 ms. */
  backoffMs?: number;
}

/** No byte either way for this long: the connection is given up (and retried). */
const IDLE_TIMEOUT_MS = 120_000;
const MAX_ANSWER_BYTES = 1024 * 1024;

/**
 * `upcat publish --server` (issue 7): streams the payload to `POST /v1/updates` as
 * multipart/form-data (manifest part first, docs/PROTOCOL.md) with a Content-Length, so the server
 * can refuse an over-limit upload before it starts. One Idempotency-Key is made per command and
 * sent with every attempt, so a retry after a dropped connection never publishes twice: the
 * server answers a retry of a finished publish with the first answer.
 */
export async function uploadPublish(options: UploadOptions): Promise<RemotePublishResult> {
  const key = randomUUID();
  const attempts = options.attempts ?? 5;
  const backoffMs = options.backoffMs ?? 500;
  for (let attempt = 1; ; attempt++) {
    try {
      return await uploadOnce(options, key);
    } catch (err) {
      if (!retryable(err) || attempt >= attempts) throw finalError(err, options.server);
      const delay = backoffMs * 2 ** (attempt - 1) * (0.75 + Math.random() / 2);
      if (options.progress) {
        process.stderr.write(
          `upload failed (${describe(err)}); retrying in ${(delay / 1000).toFixed(1)} s (attempt ${attempt + 1} of ${attempts})\n`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}

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
  const form = multipartFrame(options.fileName, options.manifest);
  const url = new URL('v1/updates', options.server);
  const client = url.protocol === 'https:' ? https : http;
  const req = client.request(url, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${options.token}`,
      accept: 'application/json',
      'content-type': form.contentType,
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
    req.write(form.head);
    await pipeline(
      payload,
      counter,
      async function* (source: AsyncIterable<Buffer>) {
        yield* source;
        yield form.tail;
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
  if (code === 'in_progress' || [502, 503, 504].includes(answer.status))
    throw new RetryableError(message);
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
