import { readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Freed } from './freed.js';

/**
 * Stale temporary files (issue 13 item 3): staging files under packages/tmp/ of publishes that
 * were killed, `.<name>.<random>.tmp` files of atomic writes (TUF metadata, payload signatures,
 * keys), and private lock records `.lock.<pid>.<random>`. Judged by modification time: a staging
 * file being written is touched by every write, so only a file left alone for `graceMs` goes.
 */
export async function collectTemporary(
  roots: { packages: string; catalog: string },
  graceMs: number,
  now: number,
  dryRun: boolean,
): Promise<Freed> {
  const freed: Freed = { files: 0, bytes: 0 };
  const take = async (file: string): Promise<void> => {
    const st = await stat(file).catch(() => undefined);
    if (st === undefined || !st.isFile() || now - st.mtimeMs < graceMs) return;
    if (!dryRun) await rm(file, { force: true });
    freed.files += 1;
    freed.bytes += st.size;
  };
  for (const name of await list(path.join(roots.packages, 'tmp'))) {
    await take(path.join(roots.packages, 'tmp', name));
  }
  await walk(path.join(roots.packages, 'signatures'), async (file) => {
    if (file.endsWith('.tmp')) await take(file);
  });
  await walk(roots.catalog, async (file) => {
    const base = path.basename(file);
    if ((base.startsWith('.') && base.endsWith('.tmp')) || base.startsWith('.lock.'))
      await take(file);
  });
  return freed;
}

async function list(dir: string): Promise<string[]> {
  return readdir(dir).catch(() => [] as string[]);
}

async function walk(dir: string, visit: (file: string) => Promise<void>): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const e of entries) {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) await walk(full, visit);
    else if (e.isFile()) await visit(full);
  }
}
