import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { errnoCode } from '../../errors.js';
import {
  forgetSlabs,
  inlineHasher,
  workerHasher,
  type Digests,
  type SharedSlabs,
  type SlabHasher,
} from './slab-hasher.js';

/**
 * O_DIRECT wants the memory address, the file offset and the length of every write aligned to the
 * device's logical block (512 bytes or 4 KiB); 4 KiB suits both.
 */
const ALIGN = 4096;
/** Bytes per write: few system calls, and large requests for the device. */
export const SLAB_BYTES = 1024 * 1024;
/**
 * One slab filling while the others are written and hashed: at most this many are buffered per
 * file. Hashed inline, the thread that fills them is the bottleneck and fewer suffice (the pages
 * of unused slabs are never touched, so they cost no memory).
 */
const SLABS = 8;
const INLINE_SLABS = 2;
/** Buffered mode: bytes written between background fdatasyncs (see `wrote`). */
const FLUSH_EVERY = 64 * 1024 * 1024;
/** Slab sets kept for the next staged file (each holds SLABS x SLAB_BYTES of memory). */
const SPARE_SETS = 2;

export interface StagingOptions {
  /** Bypass the page cache (O_DIRECT) where the platform and file system allow. */
  direct: boolean;
  /** Hash on the hash worker rather than on the calling thread (slab-hasher.ts). */
  hashWorker: boolean;
}

interface SlabSet {
  slabs: Buffer[];
  /** Page-aligned (WebAssembly memory), so usable with O_DIRECT. */
  aligned: boolean;
  /** Shared memory, so the hash worker can read the slabs in place. */
  shared: SharedSlabs | undefined;
}

const spare: SlabSet[] = [];

let nextSetId = 1;

/** The part of the WebAssembly global used here (the project's TypeScript libs leave it out). */
declare const WebAssembly: {
  Memory: new (descriptor: { initial: number; maximum: number; shared: true }) => {
    readonly buffer: SharedArrayBuffer;
  };
};

/**
 * A staged payload being written and hashed: chunks are copied into large slabs; each full slab
 * is written at its offset and hashed (SHA-256 and SHA-1, on the hash worker: slab-hasher.ts)
 * while the next fills, with several slabs in flight; then one fsync.
 *
 * Where the platform and file system allow it the file is opened with O_DIRECT: the slabs go to
 * the device without passing through the page cache. On a disk whose buffered writeback is slow
 * (docs/BENCHMARKS.md, issue 7: ~250 MB/s through the page cache against ~1 GB/s direct on the
 * benchmark machine) this takes the closing fsync off the critical path, since nothing is left to
 * write back when the last byte arrives. Otherwise (no O_DIRECT, or the file system refuses it)
 * the same slabs are written through the page cache with a background fdatasync every 64 MiB.
 */
export class StagingFile {
  private readonly free: Buffer[];
  private readonly set: SlabSet;
  private current: Buffer | undefined;
  private fill = 0;
  private position = 0;
  private readonly inFlight = new Set<Promise<void>>();
  private waiters: Array<() => void> = [];
  private failure: unknown;
  private sinceFlush = 0;
  private flush: Promise<void> | undefined;
  private switching: Promise<void> | undefined;
  private retired: FileHandle[] = [];
  private hasher: SlabHasher | undefined;
  /** The last slab went down padded to the alignment: finish() cuts the file to its size. */
  private padded = false;

  private readonly slabCount: number;
  private readonly hashWorker: boolean;

  private constructor(
    private readonly file: string,
    private fh: FileHandle,
    private direct: boolean,
    set: SlabSet,
    options: StagingOptions,
  ) {
    this.set = set;
    this.hashWorker = options.hashWorker && set.shared !== undefined;
    this.slabCount = this.hashWorker ? SLABS : INLINE_SLABS;
    this.free = set.slabs.slice(0, this.slabCount);
  }

  /**
   * Creates `file` (which must not exist), with O_DIRECT when asked and the file system allows.
   * `hashWorker`: a payload larger than a slab is hashed on the hash worker.
   */
  static async create(file: string, options: StagingOptions): Promise<StagingFile> {
    const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL;
    const directFlag = options.direct ? (constants.O_DIRECT ?? 0) : 0;
    const set = spare.pop() ?? allocateSlabs();
    try {
      if (directFlag !== 0 && set.aligned) {
        try {
          const fh = await open(file, flags | directFlag, 0o644);
          return new StagingFile(file, fh, true, set, options);
        } catch (err) {
          if (errnoCode(err) !== 'EINVAL') throw err; // e.g. a file system without O_DIRECT
        }
      }
      return new StagingFile(file, await open(file, flags, 0o644), false, set, options);
    } catch (err) {
      spare.push(set);
      throw err;
    }
  }

  /** Whether writes bypass the page cache (for tests and the benchmark notes). */
  get isDirect(): boolean {
    return this.direct;
  }

  /**
   * Takes a chunk (copied, so the caller may reuse it). Answers a promise when every slab is
   * busy: the caller waits for it before the next chunk, which is the backpressure.
   */
  write(chunk: Uint8Array): Promise<void> | undefined {
    this.throwIfFailed();
    const taken = this.copyIn(chunk, 0);
    if (taken < chunk.length) return this.writeRest(chunk, taken);
    if (this.current === undefined && this.free.length === 0) return this.slabFreed();
    return undefined;
  }

  /** Writes and hashes what is left, waits for every write, and fsyncs: the bytes are on disk. */
  async finish(): Promise<Digests & { size: number }> {
    const size = this.position + this.fill;
    if (this.current !== undefined && this.fill > 0) this.dispatch(true);
    await this.drain();
    this.throwIfFailed();
    const digests = await (this.hasher ?? inlineHasher()).digest();
    if (this.padded) await this.fh.truncate(size);
    await this.flush;
    await this.fh.sync();
    await this.close();
    return { ...digests, size };
  }

  /** After a failure: waits for the writes in flight and closes; the caller removes the file. */
  async abort(): Promise<void> {
    await this.drain().catch(() => undefined);
    this.hasher?.drop();
    await this.flush?.catch(() => undefined);
    await this.close().catch(() => undefined);
  }

  private copyIn(chunk: Uint8Array, from: number): number {
    let offset = from;
    while (offset < chunk.length) {
      if (this.current === undefined) {
        this.current = this.free.pop();
        this.fill = 0;
        if (this.current === undefined) break;
      }
      const n = Math.min(chunk.length - offset, SLAB_BYTES - this.fill);
      // Most chunks fit whole: no view object to make (and collect) for each.
      this.current.set(n === chunk.length ? chunk : chunk.subarray(offset, offset + n), this.fill);
      this.fill += n;
      offset += n;
      if (this.fill === SLAB_BYTES) this.dispatch();
    }
    return offset;
  }

  private async writeRest(chunk: Uint8Array, from: number): Promise<void> {
    let offset = from;
    while (offset < chunk.length) {
      await this.slabFreed();
      offset = this.copyIn(chunk, offset);
    }
  }

  private dispatch(last = false): void {
    const slab = this.current as Buffer;
    const length = this.fill;
    const position = this.position;
    this.current = undefined;
    this.fill = 0;
    this.position += length;
    const hashed = this.hasherFor(last).update(slab, length);
    const write = Promise.all([this.writeSlab(slab, length, position), hashed]).then(
      () => {
        this.free.push(slab);
        this.wrote(length);
      },
      (err: unknown) => {
        this.failure ??= err;
      },
    );
    this.inFlight.add(write);
    void write.finally(() => {
      this.inFlight.delete(write);
      const waiters = this.waiters;
      this.waiters = [];
      for (const wake of waiters) wake();
    });
  }

  /** With the hash worker, a payload that fits one slab is still hashed here: no round trip. */
  private hasherFor(last: boolean): SlabHasher {
    if (this.hasher === undefined) {
      const shared = this.set.shared;
      this.hasher =
        !this.hashWorker || last || shared === undefined
          ? inlineHasher()
          : workerHasher(shared, (slab) => slab.byteOffset);
    }
    return this.hasher;
  }

  private async writeSlab(slab: Buffer, length: number, position: number): Promise<void> {
    if (this.direct) {
      // The last slab is padded to the alignment; finish() truncates the padding away.
      const padded = Math.ceil(length / ALIGN) * ALIGN;
      slab.fill(0, length, padded);
      try {
        await writeAll(this.fh, slab.subarray(0, padded), position);
        if (padded > length) this.padded = true;
        return;
      } catch (err) {
        if (errnoCode(err) !== 'EINVAL') throw err;
        // The file system took O_DIRECT at open but refuses these writes: go buffered.
        await this.becomeBuffered();
      }
    }
    await writeAll(this.fh, slab.subarray(0, length), position);
  }

  private becomeBuffered(): Promise<void> {
    this.switching ??= (async () => {
      const old = this.fh;
      this.fh = await open(this.file, 'r+');
      this.direct = false;
      this.retired.push(old); // closed once the writes still using it have settled
    })();
    return this.switching;
  }

  /**
   * Buffered mode: starts writeback while the payload is still streaming in, so the closing fsync
   * does not wait for the whole file to reach the disk after the last byte arrived.
   */
  private wrote(bytes: number): void {
    if (this.direct) return;
    this.sinceFlush += bytes;
    if (this.sinceFlush < FLUSH_EVERY || this.flush !== undefined) return;
    this.sinceFlush = 0;
    const flush = this.fh.datasync().finally(() => {
      if (this.flush === flush) this.flush = undefined;
    });
    this.flush = flush;
    // A failure here surfaces at the closing fsync, which finish() always runs.
    flush.catch(() => undefined);
  }

  private slabFreed(): Promise<void> {
    this.throwIfFailed();
    if (this.free.length > 0) return Promise.resolve();
    return new Promise<void>((resolve) => this.waiters.push(resolve)).then(() =>
      this.throwIfFailed(),
    );
  }

  private async drain(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all(this.inFlight);
  }

  private async close(): Promise<void> {
    const handles = [this.fh, ...this.retired];
    this.retired = [];
    await Promise.all(handles.map((h) => h.close()));
    // Reused only when every slab came back (a failed write's slab may still be in use).
    if (this.free.length === this.slabCount && spare.length < SPARE_SETS) spare.push(this.set);
    else if (this.set.shared !== undefined) forgetSlabs(this.set.shared);
  }

  private throwIfFailed(): void {
    if (this.failure !== undefined) throw this.failure;
  }
}

/** pwrite until every byte is down (a short write resumes where it stopped). */
async function writeAll(fh: FileHandle, bytes: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < bytes.length) {
    const { bytesWritten } = await fh.write(bytes, done, bytes.length - done, position + done);
    done += bytesWritten;
  }
}

/**
 * Slabs in page-aligned shared memory (WebAssembly's, which ordinary Buffers do not promise):
 * usable with O_DIRECT and readable by the hash worker. Falls back to unaligned shared memory
 * (buffered writes), then to plain buffers (hashing on this thread).
 */
function allocateSlabs(): SlabSet {
  const bytes = SLABS * SLAB_BYTES;
  const slice = (buffer: SharedArrayBuffer): Buffer[] =>
    Array.from({ length: SLABS }, (_, i) => Buffer.from(buffer, i * SLAB_BYTES, SLAB_BYTES));
  const id = nextSetId++;
  try {
    const pages = bytes / 65536;
    const { buffer } = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
    return { slabs: slice(buffer), aligned: true, shared: { id, buffer } };
  } catch {
    // e.g. a virtual memory limit (WebAssembly memory reserves address space)
  }
  try {
    const buffer = new SharedArrayBuffer(bytes);
    return { slabs: slice(buffer), aligned: false, shared: { id, buffer } };
  } catch {
    const slabs = Array.from({ length: SLABS }, () => Buffer.allocUnsafeSlow(SLAB_BYTES));
    return { slabs, aligned: false, shared: undefined };
  }
}
