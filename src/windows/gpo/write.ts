import { mkdir, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { conflict, errnoCode, invalidInput } from '../../errors.js';
import { writeFileAtomic } from '../../signing/files.js';
import type { ExportFile } from './export.js';

/**
 * Writes an export under `outDir`. A directory that exists and holds anything is refused
 * unless `force` (then the export's files replace theirs; other files stay), so that an export
 * never mixes silently with an older one. Each file is written whole or not at all.
 */
export async function writeExportFiles(
  outDir: string,
  files: readonly ExportFile[],
  force: boolean,
): Promise<string[]> {
  await checkOutDir(outDir, force);
  const written: string[] = [];
  for (const f of files) {
    const target = path.join(outDir, ...f.path.split('/'));
    await mkdir(path.dirname(target), { recursive: true });
    await writeFileAtomic(target, f.data);
    written.push(target);
  }
  return written;
}

async function checkOutDir(outDir: string, force: boolean): Promise<void> {
  let entries: string[];
  try {
    if (!(await stat(outDir)).isDirectory())
      throw invalidInput(`--out: ${outDir} exists and is not a directory`);
    entries = await readdir(outDir);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return;
    throw err;
  }
  if (entries.length > 0 && !force)
    throw conflict(`--out: ${outDir} is not empty (give --force to write into it)`);
}
