import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { extract, pack, type Extract, type Pack } from 'tar-stream';
import { UpcatError } from '../errors.js';

/**
 * A backup is one POSIX tar file (readable with `tar tf`), written by temporary name and renamed
 * into place when complete, so a killed backup never leaves a file that looks whole.
 */
export class ArchiveWriter {
  private readonly pack: Pack = pack();
  private readonly done: Promise<void>;
  private readonly tmp: string;
  bytes = 0;
  entries = 0;

  constructor(private readonly out: string) {
    this.tmp = path.join(
      path.dirname(out),
      `.${path.basename(out)}.${randomBytes(6).toString('hex')}.tmp`,
    );
    this.done = pipeline(this.pack, createWriteStream(this.tmp, { flags: 'wx', mode: 0o600 }));
    // A failed write surfaces at the next entry or at finish(); keep it from being unhandled.
    this.done.catch(() => undefined);
  }

  async addBuffer(name: string, data: Buffer, mode = 0o644): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.pack.entry({ name, size: data.length, mode, mtime: new Date() }, data, (err) =>
        err ? reject(err) : resolve(),
      );
    });
    this.count(data.length);
  }

  /**
   * Adds a file by its open handle: the size and the bytes come from one inode, even when the
   * path is replaced by a rename meanwhile (timestamp.json). Answers false when it is gone.
   */
  async addFile(name: string, file: string, mode?: number): Promise<boolean> {
    let handle;
    try {
      handle = await open(file, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
    try {
      const st = await handle.stat();
      const entry = this.pack.entry({
        name,
        size: st.size,
        mode: mode ?? st.mode & 0o777,
        mtime: st.mtime,
      });
      await pipeline(
        createReadStream('', {
          fd: handle.fd,
          autoClose: false,
          start: 0,
          end: Math.max(0, st.size - 1),
        }),
        entry,
      );
      this.count(st.size);
      return true;
    } finally {
      await handle.close();
    }
  }

  private count(size: number): void {
    this.entries += 1;
    this.bytes += size;
  }

  async finish(): Promise<void> {
    this.pack.finalize();
    await this.done;
    const fh = await open(this.tmp, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(this.tmp, this.out);
  }

  async abort(): Promise<void> {
    this.pack.destroy();
    await this.done.catch(() => undefined);
    await rm(this.tmp, { force: true });
  }
}

/** One entry of an archive being read: its header, and its bytes as a stream. */
export type Entry = Extract extends AsyncIterable<infer E> ? E : never;

/** Entry names in a backup: relative, forward slashes, no `.` or `..` segments. */
const SAFE_NAME = /^(?!\/)(?:[A-Za-z0-9_@+=~-][A-Za-z0-9._@+=~-]*\/)*[A-Za-z0-9_@+=~.-]+$/;

export function checkEntryName(name: string): string {
  const parts = name.split('/');
  if (!SAFE_NAME.test(name) || parts.some((p) => p === '.' || p === '..')) {
    throw new UpcatError(
      'invalid_input',
      `the backup holds an unsafe entry name: ${JSON.stringify(name)}`,
    );
  }
  return name;
}

/** Reads a backup's entries in order; each entry must be consumed (or drained) before the next. */
export async function* readArchive(file: string): AsyncGenerator<Entry> {
  const ex = extract();
  const source = createReadStream(file);
  source.on('error', (err) => ex.destroy(err));
  source.pipe(ex);
  try {
    for await (const entry of ex) {
      const type = entry.header.type ?? 'file';
      if (type !== 'file') {
        throw new UpcatError(
          'invalid_input',
          `the backup holds a ${type} entry (${entry.header.name}); only files are expected`,
        );
      }
      checkEntryName(entry.header.name);
      yield entry;
    }
  } finally {
    source.destroy();
  }
}

export async function readEntry(entry: Entry, maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of entry) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) {
      throw new UpcatError(
        'invalid_input',
        `backup entry ${entry.header.name} is larger than ${maxBytes} bytes`,
      );
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}
