import { randomBytes } from 'node:crypto';
import { link, open, rename, rm } from 'node:fs/promises';
import path from 'node:path';

/**
 * Writes `data` to a temporary name in the same directory, fsyncs it and renames it into place,
 * so a reader sees the old file or the new one, never a part (DESIGN.md §7; aptly's habit).
 * `mode` 0o600 is used for private keys; `exclusive` refuses to replace an existing file.
 */
export async function writeFileAtomic(
  file: string,
  data: string | Uint8Array,
  options: { mode?: number; exclusive?: boolean } = {},
): Promise<void> {
  const tmp = path.join(
    path.dirname(file),
    `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`,
  );
  const handle = await open(tmp, 'wx', options.mode ?? 0o644);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } catch (err) {
    await handle.close();
    await rm(tmp, { force: true });
    throw err;
  }
  await handle.close();
  try {
    if (options.exclusive === true) {
      // link() fails with EEXIST where rename() would silently replace.
      await link(tmp, file);
      await rm(tmp, { force: true });
    } else {
      await rename(tmp, file);
    }
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  await fsyncDir(path.dirname(file));
}

/** Flushes a directory entry list, so renames into it survive a crash. */
export async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
