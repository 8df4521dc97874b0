import { rm, stat } from 'node:fs/promises';
import type { Freed } from '../../ops/gc/freed.js';

/**
 * A remover of temporary files judged by modification time: a file being written is touched by
 * every write, so only one left alone for `graceMs` goes (counted into `freed`; kept on a dry run).
 */
export function staleFileRemover(
  freed: Freed,
  graceMs: number,
  now: number,
  dryRun: boolean,
): (file: string) => Promise<void> {
  return async (file) => {
    const st = await stat(file).catch(() => undefined);
    if (st === undefined || !st.isFile() || now - st.mtimeMs < graceMs) return;
    if (!dryRun) await rm(file, { force: true });
    freed.files += 1;
    freed.bytes += st.size;
  };
}
