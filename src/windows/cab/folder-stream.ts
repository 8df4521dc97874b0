/**
 * A folder's uncompressed stream, block by block (MS-CAB 2.4 CFDATA, MS-MCI for MSZIP): each
 * block's sizes checked, its checksum verified, its payload inflated with the folder's history.
 * Reads stay inside the folder's own data (up to the next folder or cbCabinet), so the work is
 * bounded by the file's size.
 */
import type { FileHandle } from 'node:fs/promises';
import { cabError } from './errors.js';
import {
  CFDATA_FIXED_BYTES,
  decodeDataHeader,
  verifyDataChecksum,
  BLOCK_BYTES,
} from './data-block.js';
import { decompressMszipBlock } from './mszip.js';
import type { CabDirectory, CabFolderInfo } from './types.js';

const READ_WINDOW = 1 << 20;

export async function* folderBlocks(
  fh: FileHandle,
  dir: CabDirectory,
  folder: CabFolderInfo,
): AsyncGenerator<Buffer> {
  if (folder.compression !== 'none' && folder.compression !== 'mszip') {
    throw cabError(
      'unsupported_compression',
      `folder ${folder.index} uses ${folder.compression}, which upcat does not read`,
      {
        folder: folder.index,
      },
    );
  }
  const next = dir.folders[folder.index + 1];
  const limit = next !== undefined ? next.dataOffset : dir.header.cabinetBytes;
  const reader = new WindowReader(fh, limit);
  const headerBytes = CFDATA_FIXED_BYTES + dir.header.dataReserveBytes;
  let position = folder.dataOffset;
  let history: Buffer | undefined;
  for (let i = 0; i < folder.blockCount; i++) {
    const where = `folder ${folder.index} block ${i}`;
    const h = decodeDataHeader(await reader.read(position, CFDATA_FIXED_BYTES, where), where);
    position += headerBytes;
    const payload = await reader.read(position, h.cbData, where);
    position += h.cbData;
    verifyDataChecksum(h, payload, where);
    let block: Buffer;
    if (folder.compression === 'mszip') {
      block = await decompressMszipBlock(payload, history, h.cbUncomp, where);
      history = nextHistory(history, block);
    } else {
      if (h.cbData !== h.cbUncomp) {
        throw cabError(
          'bad_size',
          `${where}: stored block with cbData ${h.cbData} and cbUncomp ${h.cbUncomp}`,
        );
      }
      block = payload;
    }
    yield block;
  }
}

/**
 * Walks a folder's stream forwards: skip to an offset, then take a number of bytes. Running out
 * of blocks before a file ends is 'bad_size' (readCab only bounds files by cCFData x 32 KiB).
 */
export class FolderCursor {
  private block: Buffer = Buffer.alloc(0);
  private blockStart = 0;
  private readonly blocks: AsyncGenerator<Buffer>;

  constructor(
    fh: FileHandle,
    dir: CabDirectory,
    private readonly folder: CabFolderInfo,
  ) {
    this.blocks = folderBlocks(fh, dir, folder);
  }

  /** Yields the `length` bytes at folder offset `start` (never before the bytes already passed). */
  async *take(start: number, length: number, name: string): AsyncGenerator<Buffer> {
    const end = start + length;
    let at = start;
    if (length > 0 && at < this.blockStart) {
      throw cabError(
        'bad_offset',
        `file ${name} starts inside bytes already passed (files overlap)`,
        { name },
      );
    }
    while (at < end) {
      const blockEnd = this.blockStart + this.block.length;
      if (at >= blockEnd) {
        const next = await this.blocks.next();
        if (next.done === true) {
          throw cabError(
            'bad_size',
            `folder ${this.folder.index} data ends before file ${name} does`,
            { name },
          );
        }
        this.blockStart = blockEnd;
        this.block = next.value;
        continue;
      }
      const slice = this.block.subarray(
        at - this.blockStart,
        Math.min(this.block.length, end - this.blockStart),
      );
      at += slice.length;
      yield slice;
    }
  }

  async close(): Promise<void> {
    await this.blocks.return(undefined);
  }
}

/** The last 32 KiB of the folder's output: MSZIP's window (MS-MCI 2.1). */
function nextHistory(history: Buffer | undefined, block: Buffer): Buffer {
  if (block.length >= BLOCK_BYTES || history === undefined) return block;
  const joined = Buffer.concat([history, block]);
  return joined.subarray(Math.max(0, joined.length - BLOCK_BYTES));
}

/** Positional reads through a 1 MiB window, never past `limit`. */
class WindowReader {
  private window = Buffer.alloc(0);
  private windowStart = 0;

  constructor(
    private readonly fh: FileHandle,
    private readonly limit: number,
  ) {}

  async read(position: number, length: number, where: string): Promise<Buffer> {
    if (position + length > this.limit) {
      throw cabError('truncated', `${where}: data runs past byte ${this.limit}`);
    }
    const end = this.windowStart + this.window.length;
    if (position < this.windowStart || position + length > end) await this.fill(position, length);
    const off = position - this.windowStart;
    return this.window.subarray(off, off + length);
  }

  private async fill(position: number, length: number): Promise<void> {
    const size = Math.min(Math.max(length, READ_WINDOW), this.limit - position);
    const buf = Buffer.allocUnsafe(size);
    let done = 0;
    while (done < size) {
      const { bytesRead } = await this.fh.read(buf, done, size - done, position + done);
      if (bytesRead === 0) throw cabError('truncated', `file ends before byte ${position + size}`);
      done += bytesRead;
    }
    this.window = buf;
    this.windowStart = position;
  }
}
