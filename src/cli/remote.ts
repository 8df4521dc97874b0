import http, { type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Command } from 'commander';
import { UpcatError, type ErrorCode } from '../errors.js';
import type { Site } from '../app.js';
import { loadHttps, untrustedCaHint } from '../https-client.js';
import { STATUS_OF } from '../server/middleware/errors.js';
import { withSite } from './context.js';

/**
 * The CLI's HTTP client for a remote site (issue 7): `--server URL --token T` (or `UPCAT_TOKEN`)
 * makes a command call the site's API instead of opening a local site home. Every response is
 * size-capped and every request has a deadline; a server error body `{error:{code,message}}`
 * becomes an UpcatError with the same code, which the CLI prints as one line.
 */
export interface RemoteOptions {
  server?: string;
  token?: string;
}

export interface RemoteRequest {
  /** Appended to the path as a query string; undefined values are left out. */
  query?: Record<string, string | number | undefined>;
  /** A JSON value (sent as application/json), or raw bytes / a stream with their own content type. */
  json?: unknown;
  body?: Buffer | Uint8Array | string | Readable | ReadableStream<Uint8Array>;
  headers?: Record<string, string>;
  /** Overrides the client's deadline (a large upload needs longer). */
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 60_000;
const DEFAULT_MAX_RESPONSE = 16 * 1024 * 1024;

/** Declares `--server` and `--token` on a command that can run against a remote site. */
export function remoteOptions(cmd: Command): Command {
  return cmd
    .option('--server <url>', 'call this upcat server instead of the local site home')
    .option(
      '--token <token>',
      'API token for --server (default: $UPCAT_TOKEN; the environment keeps it out of `ps`)',
    );
}

/** The remote client when `--server` was given; undefined for a local command. */
export function remoteOf(
  opts: RemoteOptions,
  env: NodeJS.ProcessEnv = process.env,
): RemoteClient | undefined {
  if (opts.server === undefined) {
    if (opts.token !== undefined)
      throw new UpcatError('invalid_input', '--token: only meaningful with --server');
    return undefined;
  }
  const token = opts.token ?? env['UPCAT_TOKEN'];
  if (token === undefined || token === '')
    throw new UpcatError('invalid_input', '--server needs a token: --token T or UPCAT_TOKEN');
  return new RemoteClient({ server: opts.server, token });
}

/**
 * Runs a command's work against the remote site when `--server` was given, else against the
 * local site home: both paths return the same shape, so the command prints the same output.
 */
export async function localOrRemote<T>(
  cmd: Command,
  opts: RemoteOptions,
  local: (site: Site) => Promise<T>,
  remote: (client: RemoteClient) => Promise<T>,
): Promise<T> {
  const client = remoteOf(opts);
  return client === undefined ? withSite(cmd, local) : remote(client);
}

export class RemoteClient {
  readonly base: URL;
  private readonly token: string;
  private readonly timeoutMs: number;
  private readonly maxResponseBytes: number;

  constructor(options: {
    server: string;
    token: string;
    timeoutMs?: number;
    maxResponseBytes?: number;
  }) {
    let base: URL;
    try {
      base = new URL(options.server);
    } catch {
      throw new UpcatError('invalid_input', `--server: "${options.server}" is not a URL`);
    }
    if (base.protocol !== 'http:' && base.protocol !== 'https:')
      throw new UpcatError('invalid_input', '--server: must be an http:// or https:// URL');
    if (!/^[!-~]{1,512}$/.test(options.token))
      throw new UpcatError('invalid_input', 'token: not a token (printable ASCII, no spaces)');
    base.pathname = base.pathname.endsWith('/') ? base.pathname : `${base.pathname}/`;
    this.base = base;
    this.token = options.token;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.maxResponseBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE;
  }

  getJson<T>(path: string, query?: RemoteRequest['query']): Promise<T> {
    return this.request<T>('GET', path, { query });
  }

  postJson<T>(path: string, json: unknown): Promise<T> {
    return this.request<T>('POST', path, { json });
  }

  /** One request; resolves with the parsed JSON body of a 2xx answer. */
  async request<T>(method: string, path: string, req: RemoteRequest = {}): Promise<T> {
    const url = this.urlOf(path, req.query);
    const headers: OutgoingHttpHeaders = {
      accept: 'application/json',
      authorization: `Bearer ${this.token}`,
      ...req.headers,
    };
    let body: Buffer | Uint8Array | string | Readable | undefined;
    if (req.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(req.json);
    } else if (req.body instanceof ReadableStream) {
      body = Readable.fromWeb(req.body as import('node:stream/web').ReadableStream<Uint8Array>);
    } else {
      body = req.body;
    }
    if (body !== undefined && !(body instanceof Readable))
      headers['content-length'] = String(Buffer.byteLength(body));
    const { status, text } = await this.exchange(
      method,
      url,
      headers,
      body,
      req.timeoutMs ?? this.timeoutMs,
    );
    // Never followed: a redirect would resend the token to wherever it points.
    if (status >= 300 && status < 400)
      throw new UpcatError(
        'internal',
        `cannot reach ${url.origin}: it answered with a redirect (HTTP ${status}), which is not followed`,
      );
    const parsed = parseJson(text);
    if (status < 200 || status >= 300) throw serverError(status, parsed, url);
    if (parsed === undefined)
      throw new UpcatError('integrity', `${url.origin}: the answer is not JSON (HTTP ${status})`);
    return parsed as T;
  }

  /**
   * Sends the request and reads the answer, capped, within the deadline. node:http rather than
   * fetch: fetch's first use compiles undici and the web streams (~100 ms of CPU), which every
   * remote command would pay at start (issue 16: a CLI that starts like a tool).
   */
  private exchange(
    method: string,
    url: URL,
    headers: OutgoingHttpHeaders,
    body: Buffer | Uint8Array | string | Readable | undefined,
    timeoutMs: number,
  ): Promise<{ status: number; text: string }> {
    return new Promise((resolve, reject) => {
      const client = url.protocol === 'https:' ? loadHttps() : http;
      const request = client.request(url, { method, headers });
      let settled = false;
      const fail = (err: unknown): void => {
        if (settled) return;
        settled = true;
        clearTimeout(deadline);
        request.destroy();
        reject(err instanceof UpcatError ? err : transportError(url, err));
      };
      const deadline = setTimeout(
        () => fail(Object.assign(new Error('no answer in time'), { name: 'TimeoutError' })),
        timeoutMs,
      );
      request.once('error', fail);
      request.once('response', (res: IncomingMessage) => {
        this.readAnswer(res, url).then((text) => {
          if (settled) return;
          settled = true;
          clearTimeout(deadline);
          resolve({ status: res.statusCode ?? 0, text });
        }, fail);
      });
      if (body instanceof Readable) pipeline(body, request).catch(fail);
      else request.end(body);
    });
  }

  private urlOf(path: string, query: RemoteRequest['query']): URL {
    const url = new URL(path.replace(/^\/+/, ''), this.base);
    for (const [k, v] of Object.entries(query ?? {}))
      if (v !== undefined) url.searchParams.set(k, String(v));
    return url;
  }

  private async readAnswer(res: IncomingMessage, url: URL): Promise<string> {
    const declared = Number(res.headers['content-length'] ?? NaN);
    if (declared > this.maxResponseBytes) {
      res.destroy();
      throw tooLarge(url, this.maxResponseBytes);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of res as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > this.maxResponseBytes) {
        res.destroy();
        throw tooLarge(url, this.maxResponseBytes);
      }
      chunks.push(chunk);
    }
    return Buffer.concat(chunks).toString('utf8');
  }
}

function parseJson(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** The server's own coded error, or a description of the status when the body is not one. */
function serverError(status: number, body: unknown, url: URL): UpcatError {
  const error = (body as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
  const code = typeof error?.code === 'string' && error.code in STATUS_OF ? error.code : undefined;
  const message = typeof error?.message === 'string' ? oneLine(error.message) : undefined;
  if (code !== undefined && message !== undefined)
    return new UpcatError(code as ErrorCode, `${url.origin}: ${message}`);
  const fallback: ErrorCode =
    status === 401
      ? 'unauthorized'
      : status === 403
        ? 'forbidden'
        : status === 404
          ? 'not_found'
          : status === 413
            ? 'too_large'
            : status < 500
              ? 'invalid_input'
              : 'internal';
  return new UpcatError(fallback, `${url.origin}: HTTP ${status} for ${url.pathname}`);
}

function transportError(url: URL, err: unknown): UpcatError {
  const cause = (err as { cause?: { code?: unknown; message?: unknown } }).cause;
  const { name, code } = err as { name?: unknown; code?: unknown };
  const why =
    name === 'TimeoutError'
      ? 'no answer in time'
      : typeof code === 'string'
        ? // errno codes say it all (ECONNREFUSED); OpenSSL's are clearer with their message
          code.startsWith('E') || !(err instanceof Error)
          ? code
          : `${err.message} (${code})`
        : typeof cause?.code === 'string'
          ? cause.code
          : typeof cause?.message === 'string'
            ? cause.message
            : err instanceof Error
              ? err.message
              : String(err);
  return new UpcatError('internal', `cannot reach ${url.origin}: ${why}${untrustedCaHint(err)}`, {
    cause: err,
  });
}

function tooLarge(url: URL, limit: number): UpcatError {
  return new UpcatError('too_large', `${url.origin}: the answer is over ${limit} bytes`);
}

/** Server messages are printed on one stderr line, without control characters. */
function oneLine(text: string): string {
  let out = '';
  for (const ch of text.slice(0, 2000)) {
    const c = ch.charCodeAt(0);
    out += c < 0x20 || c === 0x7f ? ' ' : ch;
  }
  return out;
}
