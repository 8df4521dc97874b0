/**
 * Downloads a vendor payload from its OriginUri (issue 11 item 2): streamed to a `.partial`
 * file, never past the size the catalog declares, within a deadline, resumed with an HTTP Range
 * request (RFC 9110 §14.2) after a dropped connection or from a `.partial` an earlier run left,
 * and the `.partial` deleted on any failure that resuming cannot fix (too long, wrong answer,
 * out of attempts). Digests are checked by the caller when the file is staged.
 */
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { once } from 'node:events';
import { errnoCode, invalidInput, UpcatError } from '../../errors.js';

export interface FetchOptions {
  /** Folder for `.partial` files (kept between attempts and runs, for resuming). */
  dir: string;
  /** Whole download, all attempts (ms). */
  timeoutMs: number;
  /** Attempts in all, the first included. */
  attempts: number;
}

export const DEFAULT_FETCH = { timeoutMs: 30 * 60 * 1000, attempts: 5 } as const;

/** Fetches `uri` into `<dir>/<name>`; returns that path. `size` is the catalog's declared Size. */
export async function fetchPayload(
  uri: string,
  name: string,
  size: number,
  options: FetchOptions,
): Promise<string> {
  const url = parseUrl(uri);
  await mkdir(options.dir, { recursive: true });
  const target = path.join(options.dir, path.basename(name));
  const partial = `${target}.partial`;
  const deadline = Date.now() + options.timeoutMs;
  let lastError: Error | undefined;
  for (let attempt = 0; attempt < options.attempts; attempt++) {
    if (Date.now() >= deadline) break;
    const have = await sizeOf(partial);
    if (have > size) break; // cannot be the declared file: start again below
    if (have === size) {
      await rename(partial, target);
      return target;
    }
    try {
      await download(url, partial, have, size, deadline);
    } catch (err) {
      if (err instanceof UpcatError && err.details?.['final'] === true) {
        await rm(partial, { force: true });
        throw err;
      }
      lastError = err as Error;
    }
  }
  await rm(partial, { force: true });
  throw new UpcatError(
    'integrity',
    `download of ${uri} failed after ${options.attempts} attempt(s) or ${Math.round(options.timeoutMs / 1000)} s` +
      (lastError === undefined ? '' : `: ${lastError.message}`),
  );
}

function parseUrl(uri: string): URL {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    throw invalidInput(`OriginUri "${uri}" is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw invalidInput(`OriginUri "${uri}" is not http or https`);
  }
  return url;
}

async function sizeOf(file: string): Promise<number> {
  try {
    return (await stat(file)).size;
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return 0;
    throw err;
  }
}

/** A failure that a retry cannot fix: the caller deletes the `.partial`. */
function final(message: string): UpcatError {
  return new UpcatError('integrity', message, { details: { final: true } });
}

/** One request: appends to `partial` from byte `from`, never past `size` bytes in all. */
async function download(
  url: URL,
  partial: string,
  from: number,
  size: number,
  deadline: number,
): Promise<void> {
  const headers: Record<string, string> = {};
  if (from > 0) headers['range'] = `bytes=${from}-`;
  const client = url.protocol === 'https:' ? https : http;
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), Math.max(1, deadline - Date.now()));
  try {
    const response = await new Promise<http.IncomingMessage>((resolve, reject) => {
      const request = client.get(url, { headers, signal: controller.signal }, resolve);
      request.on('error', reject);
    });
    let offset = from;
    if (from > 0 && response.statusCode === 200)
      offset = 0; // Range ignored: start over
    else if (from > 0 && response.statusCode !== 206) {
      response.resume();
      throw final(`${url.href} answered ${response.statusCode} to a Range request`);
    } else if (from === 0 && response.statusCode !== 200) {
      response.resume();
      throw final(`${url.href} answered ${response.statusCode}`);
    }
    const length = Number(response.headers['content-length'] ?? NaN);
    if (Number.isFinite(length) && offset + length > size) {
      response.destroy();
      throw final(`${url.href} sends ${offset + length} bytes; the catalog's Size is ${size}`);
    }
    await appendBody(response, partial, offset, size, url);
  } finally {
    clearTimeout(timer);
  }
}

async function appendBody(
  body: http.IncomingMessage,
  partial: string,
  offset: number,
  size: number,
  url: URL,
): Promise<void> {
  const out = createWriteStream(
    partial,
    offset === 0 ? { flags: 'w' } : { flags: 'r+', start: offset },
  );
  let written = offset;
  try {
    for await (const chunk of body) {
      const bytes = chunk as Buffer;
      written += bytes.length;
      if (written > size)
        throw final(`${url.href} sends more than the catalog's Size of ${size} bytes`);
      if (!out.write(bytes)) await once(out, 'drain');
    }
    if (!body.complete) throw new Error('connection closed before the end of the body');
  } finally {
    out.end();
    await once(out, 'close').catch(() => undefined);
    body.destroy();
  }
}
