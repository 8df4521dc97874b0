import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, type ReadStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { UpcatError, errnoCode } from '../../errors.js';

export interface BlobInfo {
  sha256: string;
  sha1: string;
  size: number;
}

/** A payload written and fsynced under tmp/, hashed, not yet visible in the pool. */
export interface StagedBlob extends BlobInfo {
  /** The staged file, readable until commit or discard (for inspecting a package's entries). */
  readonly path: string;
  /** Moves the blob into the pool (a no-op if identical content is already there). */
  commit(): Promise<void>;
  /** Removes the staged file; safe to call after commit or twice. */
  discard(): Promise<void>;
}

const SHA256 = /^[0-9a-f]{64}$/;
/** Stale temporary files (from a killed publish) are swept once they are this old. */
const STALE_TMP_MS = 60 * 60 * 1000;
/** Chunk size for reads: large chunks keep syscall and hashing overhead low on big payloads. */
export const CHUNK_BYTES = 1024 * 1024;

/**
 * The content-addressed payload pool (DESIGN.md §4): `pool/<aa>/<sha256>`. A payload is hashed
 * (SHA-256 and SHA-1, one pass) while it is written to a temporary file, fsynced, and renamed
 * into place only when the caller commits, so a crash leaves either nothing or a whole file.
 */
export class BlobPool {
  readonly root: string;
  private readonly poolDir: string;
  private readonly tmpDir: string;

  constructor(root: string) {
    this.root = root;
    this.poolDir = path.join(root, 'pool');
    this.tmpDir = path.join(root, 'tmp');
  }

  async init(): Promise<void> {
    await mkdir(this.poolDir, { recursive: true });
    await mkdir(this.tmpDir, { recursive: true });
  }

  pathOf(sha256: string): string {
    if (!SHA256.test(sha256))
      throw new UpcatError('invalid_input', `not a SHA-256 digest: ${sha256}`);
    return path.join(this.poolDir, sha256.slice(0, 2), sha256);
  }

  /** Where the detached CMS signature of a payload is kept: `signatures/<aa>/<sha256>.p7s`. */
  signaturePathOf(sha256: string): string {
    const blob = this.pathOf(sha256);
    return path.join(this.root, 'signatures', sha256.slice(0, 2), `${path.basename(blob)}.p7s`);
  }

  /** Writes a payload's signature atomically (temp file, fsync, rename). */
  async writeSignature(sha256: string, der: Uint8Array): Promise<void> {
    const file = this.signaturePathOf(sha256);
    await mkdir(path.dirname(file), { recursive: true });
    const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
    const fh = await open(tmp, 'wx', 0o644);
    try {
      await writevAll(fh, [Buffer.from(der)]);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, file);
    await fsyncDir(path.dirname(file));
  }

  /** Size of a stored blob, or undefined when absent. */
  async sizeOf(sha256: string): Promise<number | undefined> {
    try {
      return (await stat(this.pathOf(sha256))).size;
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return undefined;
      throw err;
    }
  }

  openRead(sha256: string, range?: { start: number; end: number }): ReadStream {
    return createReadStream(this.pathOf(sha256), { ...range, highWaterMark: CHUNK_BYTES });
  }

  /**
   * Streams `source` into a staged blob. Refuses (and removes the temporary file) when the
   * content grows past `maxBytes`; the source is never held whole in memory.
   */
  async stage(source: Readable | AsyncIterable<Uint8Array>, maxBytes: number): Promise<StagedBlob> {
    await this.init();
    await this.sweepStale();
    const tmp = path.join(this.tmpDir, `${Date.now()}-${randomBytes(8).toString('hex')}.part`);
    const fh = await open(tmp, 'wx', 0o644);
    let info: BlobInfo;
    try {
      info = await hashAndWrite(source, fh, maxBytes);
      await fh.sync();
    } catch (err) {
      await fh.close().catch(() => undefined);
      await rm(tmp, { force: true });
      if (typeof (source as Readable).destroy === 'function') (source as Readable).destroy();
      throw err;
    }
    await fh.close();
    return this.staged(info, tmp);
  }

  private staged(info: BlobInfo, tmp: string): StagedBlob {
    const finalPath = this.pathOf(info.sha256);
    return {
      ...info,
      path: tmp,
      commit: async () => {
        const dir = path.dirname(finalPath);
        await mkdir(dir, { recursive: true });
        // rename() replaces atomically; identical content under the same name is harmless.
        await rename(tmp, finalPath);
        await fsyncDir(dir);
      },
      discard: async () => {
        await rm(tmp, { force: true });
      },
    };
  }

  /** Re-hashes a stored blob: true when its bytes still match its name. */
  async verify(sha256: string): Promise<boolean> {
    const hash = createHash('sha256');
    try {
      for await (const chunk of this.openRead(sha256)) hash.update(chunk as Buffer);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return false;
      throw err;
    }
    return hash.digest('hex') === sha256;
  }

  private async sweepStale(): Promise<void> {
    const now = Date.now();
    for (const name of await readdir(this.tmpDir)) {
      const started = Number(name.split('-')[0]);
      if (Number.isFinite(started) && now - started > STALE_TMP_MS) {
        await rm(path.join(this.tmpDir, name), { force: true });
      }
    }
  }
}

/**
 * One pass: each chunk is hashed while the previous chunk's write is still in flight on the
 * thread pool, so hashing and disk I/O overlap on a two-core machine.
 */
async function hashAndWrite(
  source: Readable | AsyncIterable<Uint8Array>,
  fh: FileHandle,
  maxBytes: number,
): Promise<BlobInfo> {
  const sha256 = createHash('sha256');
  const sha1 = createHash('sha1');
  let size = 0;
  let pending: Promise<unknown> = Promise.resolve();
  // Chunks (64 KiB from a socket, less through a multipart parser) are written in batches: one
  // thread-pool round trip per MiB instead of one per chunk, which left the main thread waiting.
  let batch: Buffer[] = [];
  let batchBytes = 0;
  const flusher = new EarlyFlush(fh);
  for await (const chunk of source) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > maxBytes) {
      await Promise.allSettled([pending, flusher.settle()]);
      throw new UpcatError('too_large', `payload is larger than the limit of ${maxBytes} bytes`, {
        details: { limit: maxBytes },
      });
    }
    sha256.update(buf);
    sha1.update(buf);
    batch.push(buf);
    batchBytes += buf.length;
    if (batchBytes >= WRITE_BATCH) {
      await pending;
      pending = writevAll(fh, batch);
      flusher.wrote(batchBytes);
      batch = [];
      batchBytes = 0;
    }
  }
  await pending;
  if (batchBytes > 0) {
    await writevAll(fh, batch);
    flusher.wrote(batchBytes);
  }
  await flusher.settle();
  return { sha256: sha256.digest('hex'), sha1: sha1.digest('hex'), size };
}

/** Bytes written between background flushes. */
const FLUSH_EVERY = 64 * 1024 * 1024;

/**
 * Starts writeback while the payload is still streaming in: every FLUSH_EVERY bytes an fdatasync
 * runs on the thread pool, beside the hashing. Without it, the closing fsync of a 1 GiB payload
 * waits for the whole file to reach the disk after the last byte was hashed.
 */
class EarlyFlush {
  private sinceFlush = 0;
  private inFlight: Promise<void> | undefined;

  constructor(private readonly fh: FileHandle) {}

  wrote(bytes: number): void {
    this.sinceFlush += bytes;
    if (this.sinceFlush < FLUSH_EVERY || this.inFlight !== undefined) return;
    this.sinceFlush = 0;
    this.inFlight = this.fh.datasync().finally(() => {
      this.inFlight = undefined;
    });
    // A failure here surfaces at the closing fsync, which the caller always awaits.
    this.inFlight.catch(() => undefined);
  }

  async settle(): Promise<void> {
    await this.inFlight?.catch(() => undefined);
  }
}

/** A write to a regular file may in principle be short; loop until every byte is down. */
/** Bytes gathered before a write is issued. */
const WRITE_BATCH = 1024 * 1024;

/** writev until every byte is written (a short write resumes where it stopped). */
async function writevAll(fh: FileHandle, buffers: Buffer[]): Promise<void> {
  let rest = buffers;
  while (rest.length > 0) {
    let { bytesWritten } = await fh.writev(rest);
    const next: Buffer[] = [];
    for (const b of rest) {
      if (bytesWritten >= b.length) {
        bytesWritten -= b.length;
        continue;
      }
      next.push(bytesWritten > 0 ? b.subarray(bytesWritten) : b);
      bytesWritten = 0;
    }
    rest = next;
  }
}

async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
