/**
 * The writer's output file: opened without replacing an existing file unless asked, written in
 * batches at explicit positions (the directory goes at offset 0 once the body is done).
 */
import { open, type FileHandle } from 'node:fs/promises';
import { UpcatError, errnoCode } from '../../errors.js';

/** cbCabinet and every offset are u32. */
export const MAX_CABINET_BYTES = 0xffffffff;
/** Output is written in batches of this size (larger batches only raised the peak RSS). */
const WRITE_BATCH_BYTES = 1 << 20;

/** Batches output and writes it at explicit positions (the directory goes at 0 at the end). */
export class PositionedWriter {
  position: number;
  private written: number;
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  constructor(
    private readonly fh: FileHandle,
    start: number,
  ) {
    this.position = start;
    this.written = start;
  }

  async push(buffers: Buffer[]): Promise<void> {
    for (const b of buffers) {
      this.pending.push(b);
      this.pendingBytes += b.length;
      this.position += b.length;
    }
    if (this.position > MAX_CABINET_BYTES)
      throw new UpcatError(
        'too_large',
        `cabinet: the cabinet would pass ${MAX_CABINET_BYTES} bytes`,
      );
    if (this.pendingBytes >= WRITE_BATCH_BYTES) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.pendingBytes === 0) return;
    const batch = Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    await writeFully(this.fh, batch, this.written);
    this.written += batch.length;
  }
}

export async function writeFully(fh: FileHandle, buf: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    const { bytesWritten } = await fh.write(buf, done, buf.length - done, position + done);
    done += bytesWritten;
  }
}

export async function openOutput(outPath: string, overwrite: boolean): Promise<FileHandle> {
  try {
    return await open(outPath, overwrite ? 'w' : 'wx');
  } catch (err) {
    if (errnoCode(err) === 'EEXIST') {
      throw new UpcatError('conflict', `cabinet output ${outPath} already exists`, {
        details: { path: outPath },
      });
    }
    throw err;
  }
}
