import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { UpcatError } from '../../errors.js';
import { ownerId } from '../owner.js';
import type { BlobPool } from './pool.js';
import type { BlobStore } from './store.js';

/** A stored blob as a local file, for tools that need a path (the MS-WUSP cabinet writer). */
export interface LocalBlob {
  path: string;
  /** Removes the copy (a no-op for the file-system pool's own file). */
  release(): Promise<void>;
}

/**
 * The pool's own file on the file system; from another store, a copy streamed into the local
 * pool's tmp/ (named like a staging file, so a crash leaves what the stale sweep removes) and
 * checked against its digest while it is written.
 */
export async function localCopy(
  store: BlobStore,
  local: BlobPool,
  sha256: string,
): Promise<LocalBlob> {
  if (store === local) return { path: local.pathOf(sha256), release: async () => undefined };
  const dir = path.join(local.root, 'tmp');
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, `${Date.now()}-${ownerId(48)}.part`);
  const hash = createHash('sha256');
  const hashing = new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      done(null, chunk);
    },
  });
  try {
    await pipeline(await store.read(sha256), hashing, createWriteStream(file, { mode: 0o600 }));
    if (hash.digest('hex') !== sha256)
      throw new UpcatError('integrity', `stored blob ${sha256} does not match its name`);
  } catch (err) {
    await rm(file, { force: true });
    throw err;
  }
  return { path: file, release: () => rm(file, { force: true }) };
}
