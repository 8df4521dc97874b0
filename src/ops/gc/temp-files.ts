import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { staleFileRemover } from '../../storage/blobs/stale-files.js';
import type { BlobStore } from '../../storage/blobs/store.js';
import type { Freed } from './freed.js';

/**
 * Stale temporary files (issue 13 item 3): staging files and objects of publishes that were
 * killed and half-written payload signatures (through the blob store port: packages/tmp/, or the
 * bucket's tmp/ too), `.<name>.<random>.tmp` files of atomic writes (TUF metadata, keys), and
 * private lock records `.lock.<pid>.<random>`. Judged by modification time: a staging
 * file being written is touched by every write, so only a file left alone for `graceMs` goes.
 */
export async function collectTemporary(
  roots: { catalog: string },
  blobs: BlobStore,
  graceMs: number,
  now: number,
  dryRun: boolean,
): Promise<Freed> {
  const freed: Freed = await blobs.sweepTemporary(graceMs, now, dryRun);
  const take = staleFileRemover(freed, graceMs, now, dryRun);
  await walk(roots.catalog, async (file) => {
    const base = path.basename(file);
    if ((base.startsWith('.') && base.endsWith('.tmp')) || base.startsWith('.lock.'))
      await take(file);
  });
  return freed;
}

async function walk(dir: string, visit: (file: string) => Promise<void>): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const e of entries) {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) await walk(full, visit);
    else if (e.isFile()) await visit(full);
  }
}
