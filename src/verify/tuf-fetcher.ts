import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Fetcher } from 'tuf-js';
import { UpcatError } from '../errors.js';
import { pipelinedGet } from './http-pipeline.js';
import { tuf } from './tuf.js';

/**
 * tuf-js's downloads over the verifier's own GETs (issue 16): its default fetcher is `fetch`,
 * whose first use loads undici (a twentieth of a whole `upcat verify` run's CPU), and it writes
 * every metadata file it downloads to a temporary file and reads it back. The cap is enforced
 * while reading, as tuf-js does; a status is tuf-js's `DownloadHTTPError`, which its walk of newer
 * roots needs (a 403 or 404 ends it); a transport error or a 5xx is tried once more, as
 * tuf-js's `fetchRetry: 1` did.
 */
export class VerifyFetcher implements Fetcher {
  constructor(private readonly timeoutMs: number) {}

  async downloadBytes(url: string, maxLength: number): Promise<Buffer> {
    try {
      return await this.get(url, maxLength);
    } catch (err) {
      if (!retried(err)) throw tufError(err);
    }
    try {
      return await this.get(url, maxLength);
    } catch (err) {
      throw tufError(err);
    }
  }

  /** tuf-js's `downloadTarget` only (verify downloads targets itself): the bytes in a file. */
  async downloadFile<T>(
    url: string,
    maxLength: number,
    handler: (file: string) => Promise<T>,
  ): Promise<T> {
    const bytes = await this.downloadBytes(url, maxLength);
    const dir = await mkdtemp(path.join(os.tmpdir(), 'upcat-tuf-'));
    try {
      const file = path.join(dir, 'download');
      await writeFile(file, bytes);
      return await handler(file);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  private get(url: string, maxLength: number): Promise<Buffer> {
    return pipelinedGet(url, maxLength, path.posix.basename(new URL(url).pathname), this.timeoutMs);
  }
}

function statusOf(err: unknown): number | undefined {
  const status = err instanceof UpcatError ? err.details?.['status'] : undefined;
  return typeof status === 'number' ? status : undefined;
}

/** Asked again: a transport error or a server error, not a status that answers the question. */
function retried(err: unknown): boolean {
  if (!(err instanceof UpcatError) || err.code !== 'integrity') return false;
  const status = statusOf(err);
  return status === undefined || status >= 500;
}

function tufError(err: unknown): unknown {
  const status = statusOf(err);
  return status === undefined ? err : new tuf.DownloadHTTPError((err as Error).message, status);
}
