import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { UpcatError } from '../errors.js';
import { SiteUnreachableError, type SiteClient } from './site-client.js';
import { FILE_MODE } from './state-dir.js';

export interface DownloadTarget {
  sha256: string;
  /** The exact length the TUF target states: the download is capped at it. */
  length: number;
}

/**
 * A response that is not what the signed catalog says (too long, other bytes, a refused
 * signature, an unexpected status): someone on the path, a broken mirror or cache. Not a fault
 * of the update, so no backoff: the agent reports it and tries again at the next cycle (issue 13
 * item 5), where one forged answer would otherwise delay the update by hours.
 */
export class TamperedResponseError extends UpcatError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('integrity', message, options);
    this.name = 'TamperedResponseError';
  }
}

export function isTampered(err: unknown): err is TamperedResponseError {
  return err instanceof TamperedResponseError;
}

export interface DownloadResult {
  file: string;
  /** Bytes already on disk from an earlier, interrupted attempt. */
  resumedFrom: number;
  fetched: number;
}

/**
 * Downloads `/content/<sha256>` into `dir` (issue 6 item 2). The bytes go to `<sha256>.partial`;
 * an interrupted download keeps it, and the next attempt asks for the rest with `Range` (and
 * `If-Range` on the digest, so a changed file restarts from zero). Never more than the TUF
 * length is written; the whole file's SHA-256 must match before it is renamed to `<sha256>`.
 * A part that fails the hash is deleted, so a corrupt prefix cannot poison later attempts; so
 * is a part of any other failure, except a non-empty prefix that the network cut short.
 */
export async function downloadPayload(
  site: SiteClient,
  target: DownloadTarget,
  dir: string,
  onProgress?: (done: number, total: number) => void,
): Promise<DownloadResult> {
  const done = path.join(dir, target.sha256);
  if (await hasDigest(done, target)) return { file: done, resumedFrom: target.length, fetched: 0 };
  const partial = `${done}.partial`;
  let offset = await sizeOf(partial);
  if (offset > target.length) {
    await rm(partial, { force: true });
    offset = 0;
  }
  const resumedFrom = offset;
  let fetched = 0;
  if (offset < target.length) {
    const headers: Record<string, string> =
      offset > 0 ? { range: `bytes=${offset}-`, 'if-range': `"${target.sha256}"` } : {};
    const res = await site.request('GET', `/content/${target.sha256}`, undefined, true, headers);
    if (res.status === 200 && offset > 0) {
      offset = 0; // the server ignored the range: start over
    } else if (res.status !== 200 && res.status !== 206) {
      await res.body?.cancel().catch(() => undefined);
      throw new TamperedResponseError(`payload ${target.sha256}: unexpected HTTP ${res.status}`);
    }
    const handle = await open(partial, offset === 0 ? 'w' : 'a', FILE_MODE);
    let failure: unknown;
    try {
      if (res.body !== null) {
        for await (const chunk of res.body) {
          if (offset + chunk.length > target.length) {
            throw new TamperedResponseError(
              `payload ${target.sha256}: the site sent more than the ${target.length} bytes the signed catalog states`,
            );
          }
          await handle.write(chunk);
          offset += chunk.length;
          fetched += chunk.length;
          onProgress?.(offset, target.length);
        }
      }
      await handle.sync();
    } catch (err) {
      failure = err instanceof UpcatError ? err : new SiteUnreachableError(site.baseUrl, err);
    } finally {
      await handle.close();
    }
    if (failure !== undefined) {
      // Only a prefix cut short by the network is kept, for the next attempt's Range request;
      // bytes the site should not have sent, or an empty file, are never left behind.
      if (!(failure instanceof SiteUnreachableError) || offset === 0)
        await rm(partial, { force: true });
      throw failure;
    }
    if (offset < target.length) {
      if (offset === 0) await rm(partial, { force: true });
      throw new SiteUnreachableError(
        site.baseUrl,
        new Error(
          `payload ${target.sha256}: connection closed after ${offset} of ${target.length} bytes`,
        ),
      );
    }
  }
  if (!(await hasDigest(partial, target))) {
    await rm(partial, { force: true });
    throw new TamperedResponseError(
      `payload ${target.sha256}: downloaded bytes do not match the SHA-256 of the signed catalog`,
    );
  }
  await rename(partial, done);
  return { file: done, resumedFrom, fetched };
}

async function sizeOf(file: string): Promise<number> {
  try {
    return (await stat(file)).size;
  } catch {
    return 0;
  }
}

async function hasDigest(file: string, target: DownloadTarget): Promise<boolean> {
  if ((await sizeOf(file)) !== target.length) return false;
  return (await sha256File(file)) === target.sha256;
}

export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: 1024 * 1024 }))
    hash.update(chunk as Buffer);
  return hash.digest('hex');
}
