/**
 * Reading file contents out of a cabinet: one entry as a stream or a size-capped Buffer, or
 * every entry into a directory. All go through folderBlocks, so every block is checked.
 */
import { open, mkdir, rm, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { UpcatError, errnoCode } from '../../errors.js';
import { cabError } from './errors.js';
import { folderBlocks } from './folder-stream.js';
import { nameSegments, sameName } from './names.js';
import { readCab, readDirectory } from './reader.js';
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
  const fh = await open(typeof cab === 'string' ? cab : cab.path, 'r');
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
      await extractFolder(fh, dir, folder.index, files, created);
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
    if (!target.startsWith(root + path.sep)) {
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
  const fh = await open(dir.path, 'r');
  try {
    const folder = dir.folders[file.folderIndex];
    if (folder === undefined)
      throw cabError('bad_offset', `file ${file.name} names a missing folder`);
    const start = file.folderOffset;
    const end = start + file.size;
    let at = 0;
    for await (const block of folderBlocks(fh, dir, folder)) {
      const blockEnd = at + block.length;
      if (blockEnd > start)
        yield block.subarray(Math.max(0, start - at), Math.min(block.length, end - at));
      at = blockEnd;
      if (at >= end) return;
    }
    throw cabError('bad_size', `folder ${folder.index} data ends before file ${file.name} does`, {
      name: file.name,
    });
  } finally {
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
  folderIndex: number,
  files: Target[],
  created: string[],
): Promise<void> {
  const folder = dir.folders[folderIndex];
  if (folder === undefined) return;
  let next = 0;
  let current: OutputFile | undefined;
  let at = 0;
  const openNext = async (): Promise<void> => {
    // Empty files and files that start here are opened in order; a non-empty one becomes current.
    while (current === undefined && next < files.length) {
      const { file, target } = files[next] as Target;
      if (file.folderOffset > at) return;
      next++;
      await mkdir(path.dirname(target), { recursive: true });
      const out = await OutputFile.create(target, file.size, created);
      if (file.size === 0) await out.close();
      else current = out;
    }
  };
  try {
    await walkFolder();
  } finally {
    // Only after a failure is a file still open; its partial bytes are removed by the caller.
    await (current as OutputFile | undefined)?.close().catch(() => undefined);
  }

  async function walkFolder(): Promise<void> {
    await openNext();
    if (current === undefined && next >= files.length) return;
    for await (const block of folderBlocks(fh, dir, folder as CabFolderInfo)) {
      let off = 0;
      while (off < block.length) {
        await openNext();
        if (current === undefined) {
          if (next >= files.length) return;
          // Skip to the next file's start (bytes between files belong to no file).
          const skip = Math.min(block.length - off, (files[next] as Target).file.folderOffset - at);
          off += skip;
          at += skip;
          continue;
        }
        const take = Math.min(block.length - off, current.remaining);
        await current.write(block.subarray(off, off + take));
        off += take;
        at += take;
        if (current.remaining === 0) {
          await current.close();
          current = undefined;
        }
      }
      await openNext();
      if (current === undefined && next >= files.length) return;
    }
    throw cabError('bad_size', `folder ${folderIndex} data ends before its files do`);
  }
}

/** A new output file ('wx': never overwrite), written in 1 MiB batches. */
class OutputFile {
  private parts: Buffer[] = [];
  private partsBytes = 0;
  private position = 0;

  private constructor(
    private readonly fh: FileHandle,
    public remaining: number,
  ) {}

  static async create(target: string, size: number, created: string[]): Promise<OutputFile> {
    try {
      const fh = await open(target, 'wx');
      created.push(target);
      return new OutputFile(fh, size);
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
    this.remaining -= data.length;
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
