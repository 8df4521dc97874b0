import { readdir } from 'node:fs/promises';
import path from 'node:path';
import type { ArchiveWriter } from './archive.js';

/**
 * Adds every regular file under `root` to the archive as `prefix` + its relative path (forward
 * slashes), in sorted order, keeping file modes (private keys stay 0600). `keep` filters by
 * relative path. A file removed while the walk runs is skipped.
 */
export async function packTree(
  archive: ArchiveWriter,
  root: string,
  prefix: string,
  keep: (rel: string) => boolean = () => true,
): Promise<number> {
  let added = 0;
  const walk = async (dir: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      const full = path.join(dir, e.name);
      const rel = path.relative(root, full).split(path.sep).join('/');
      if (!keep(rel)) continue;
      if (e.isDirectory()) await walk(full);
      else if (e.isFile() && (await archive.addFile(`${prefix}${rel}`, full))) added += 1;
    }
  };
  await walk(root);
  return added;
}
