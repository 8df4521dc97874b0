import { Readable } from 'node:stream';
import type { Command } from 'commander';
import { UpcatError, type ErrorCode } from '../errors.js';
import type { Site } from '../app.js';
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
    const headers: Record<string, string> = {
      accept: 'application/json',
      authorization: `Bearer ${this.token}`,
      ...req.headers,
    };
    let body: RequestInit['body'];
    let streamed = false;
    if (req.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(req.json);
    } else if (req.body instanceof Readable) {
      body = Readable.toWeb(req.body) as ReadableStream<Uint8Array>;
      streamed = true;
    } else if (req.body instanceof ReadableStream) {
      body = req.body;
      streamed = true;
    } else {
      body = req.body;
    }
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers,
        body,
        redirect: 'error', // a redirect would resend the token to wherever it points
        signal: AbortSignal.timeout(req.timeoutMs ?? this.timeoutMs),
        ...(streamed ? { duplex: 'half' } : {}),
      } as RequestInit);
    } catch (err) {
      throw transportError(url, err);
    }
    const text = await this.readCapped(res, url);
    const parsed = parseJson(text);
    if (!res.ok) throw serverError(res.status, parsed, url);
    if (parsed === undefined)
      throw new UpcatError(
        'integrity',
        `${url.origin}: the answer is not JSON (HTTP ${res.status})`,
      );
    return parsed as T;
  }

  private urlOf(path: string, query: RemoteRequest['query']): URL {
    const url = new URL(path.replace(/^\/+/, ''), this.base);
    for (const [k, v] of Object.entries(query ?? {}))
      if (v !== undefined) url.searchParams.set(k, String(v));
    return url;
  }

  private async readCapped(res: Response, url: URL): Promise<string> {
    const declared = Number(res.headers.get('content-length') ?? NaN);
    if (declared > this.maxResponseBytes) {
      await res.body?.cancel();
      throw tooLarge(url, this.maxResponseBytes);
    }
    if (res.body === null) return '';
    const chunks: Uint8Array[] = [];
    let size = 0;
    const reader = res.body.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        size += value.byteLength;
        if (size > this.maxResponseBytes) {
          await reader.cancel();
          throw tooLarge(url, this.maxResponseBytes);
        }
        chunks.push(value);
      }
    } catch (err) {
      if (err instanceof UpcatError) throw err;
      throw transportError(url, err);
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
  const name = (err as { name?: unknown }).name;
  const why =
    name === 'TimeoutError'
      ? 'no answer in time'
      : typeof cause?.code === 'string'
        ? cause.code
        : typeof cause?.message === 'string'
          ? cause.message
          : err instanceof Error
            ? err.message
            : String(err);
  return new UpcatError('internal', `cannot reach ${url.origin}: ${why}`, { cause: err });
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
