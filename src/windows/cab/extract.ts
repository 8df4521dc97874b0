/**
 * Reading file contents out of a cabinet: one entry as a stream or a size-capped Buffer, or
 * every entry into a directory. All go through folderBlocks, so every block is checked.
 */
import { open, mkdir, rm, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { UpcatError, errnoCode } from '../../errors.js';
import { cabError } from './errors.js';
import { FolderCursor } from './folder-stream.js';
import { nameSegments, sameName } from './names.js';
import { openCabFile, readCab, readDirectory } from './reader.js';
import type { CabDirectory, CabFileInfo, CabFolderInfo, ExtractedFile } from './types.js';

const WRITE_BATCH_BYTES = 1 << 20;

/** The bytes of one file, as a stream; it errors with a coded UpcatError on a bad block. */
export async function openCabEntry(cab: string | CabDirectory, name: string): Promise<Readable> {
  const dir = typeof cab === 'string' ? await readCab(cab) : cab;
  const file = findFile(dir, name);
  return Readable.from(entryBytes(dir, file), { objectMode: false });
}

/** One file's bytes in memory; 'too_large' when it is over `maxBytes`. */
export async function readCabEntry(
  cab: string | CabDirectory,
  name: string,
  options: { maxBytes: number },
): Promise<Buffer> {
  const dir = typeof cab === 'string' ? await readCab(cab) : cab;
  const file = findFile(dir, name);
  if (file.size > options.maxBytes) {
    throw new UpcatError(
      'too_large',
      `cabinet entry ${file.name} has ${file.size} bytes, over the limit of ${options.maxBytes}`,
    );
  }
  const parts: Buffer[] = [];
  for await (const piece of entryBytes(dir, file)) parts.push(piece);
  return Buffer.concat(parts, file.size);
}

/**
 * Every file into `destDir`, in each folder's order in one pass over its data. Names that are
 * absolute, climb out ('..'), or repeat are refused before anything is written; existing files
 * are never overwritten; on failure the files written so far are removed.
 */
export async function extractCab(
  cab: string | CabDirectory,
  destDir: string,
): Promise<ExtractedFile[]> {
  const fh = await openCabFile(typeof cab === 'string' ? cab : cab.path);
  const created: string[] = [];
  try {
    const dir = typeof cab === 'string' ? await readDirectory(fh, cab) : cab;
    const root = path.resolve(destDir);
    const targets = planTargets(dir, root);
    await mkdir(root, { recursive: true });
    const results: ExtractedFile[] = [];
    for (const folder of dir.folders) {
      const files = dir.files
        .map((file, i) => ({ file, target: targets[i] as string }))
        .filter((e) => e.file.folderIndex === folder.index)
        .sort((a, b) => a.file.folderOffset - b.file.folderOffset);
      if (files.length === 0) continue;
      await extractFolder(fh, dir, folder, files, created);
      for (const { file, target } of files)
        results.push({ name: file.name, path: target, size: file.size });
    }
    return results;
  } catch (err) {
    for (const p of created) await rm(p, { force: true });
    throw err;
  } finally {
    await fh.close();
  }
}

function findFile(dir: CabDirectory, name: string): CabFileInfo {
  const file = dir.files.find((f) => sameName(f.name, name));
  if (file === undefined) throw cabError('not_found', `no file ${name} in ${dir.path}`, { name });
  return file;
}

/** The destination of each file, checked to stay under root and to be unique. */
function planTargets(dir: CabDirectory, root: string): string[] {
  const seen = new Set<string>();
  return dir.files.map((file) => {
    const target = path.resolve(root, ...nameSegments(file.name));
    const relative = path.relative(root, target);
    if (
      relative === '' ||
      relative === '..' ||
      relative.startsWith(`..${path.sep}`) ||
      path.isAbsolute(relative)
    ) {
      throw cabError('bad_name', `file name ${JSON.stringify(file.name)} leaves the destination`, {
        name: file.name,
      });
    }
    const key = target.toLowerCase();
    if (seen.has(key))
      throw cabError('bad_name', `file name ${JSON.stringify(file.name)} appears twice`, {
        name: file.name,
      });
    seen.add(key);
    return target;
  });
}

/** One file's slice of its folder's stream. */
async function* entryBytes(dir: CabDirectory, file: CabFileInfo): AsyncGenerator<Buffer> {
  if (file.size === 0) return;
  const folder = dir.folders[file.folderIndex];
  if (folder === undefined)
    throw cabError('bad_offset', `file ${file.name} names a missing folder`);
  const fh = await openCabFile(dir.path);
  const cursor = new FolderCursor(fh, dir, folder);
  try {
    yield* cursor.take(file.folderOffset, file.size, file.name);
  } finally {
    await cursor.close();
    await fh.close();
  }
}

interface Target {
  file: CabFileInfo;
  target: string;
}

/** Writes a folder's files (sorted by offset, not overlapping) in one pass over its blocks. */
async function extractFolder(
  fh: FileHandle,
  dir: CabDirectory,
  folder: CabFolderInfo,
  files: Target[],
  created: string[],
): Promise<void> {
  const cursor = new FolderCursor(fh, dir, folder);
  try {
    for (const { file, target } of files) {
      await mkdir(path.dirname(target), { recursive: true });
      const out = await OutputFile.create(target, created);
      try {
        for await (const piece of cursor.take(file.folderOffset, file.size, file.name))
          await out.write(piece);
      } finally {
        await out.close();
      }
    }
  } finally {
    await cursor.close();
  }
}

/** A new output file ('wx': never overwrite), written in 1 MiB batches. */
class OutputFile {
  private parts: Buffer[] = [];
  private partsBytes = 0;
  private position = 0;

  private constructor(private readonly fh: FileHandle) {}

  static async create(target: string, created: string[]): Promise<OutputFile> {
    try {
      const fh = await open(target, 'wx');
      created.push(target);
      return new OutputFile(fh);
    } catch (err) {
      if (errnoCode(err) === 'EEXIST') {
        throw new UpcatError('conflict', `extracting a cabinet: ${target} already exists`, {
          details: { path: target },
        });
      }
      throw err;
    }
  }

  async write(data: Buffer): Promise<void> {
    this.parts.push(data);
    this.partsBytes += data.length;
    if (this.partsBytes >= WRITE_BATCH_BYTES) await this.flush();
  }

  async close(): Promise<void> {
    await this.flush();
    await this.fh.close();
  }

  private async flush(): Promise<void> {
    if (this.partsBytes === 0) return;
    const buf = Buffer.concat(this.parts, this.partsBytes);
    this.parts = [];
    this.partsBytes = 0;
    let done = 0;
    while (done < buf.length) {
      const { bytesWritten } = await this.fh.write(
        buf,
        done,
        buf.length - done,
        this.position + done,
      );
      done += bytesWritten;
    }
    this.position += buf.length;
  }
}
