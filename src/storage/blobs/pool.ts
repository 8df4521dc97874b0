import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, type ReadStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { UpcatError, errnoCode } from '../../errors.js';
import { liveness, ownerId } from '../owner.js';
import type { Freed } from '../../ops/gc/freed.js';
import { StagingFile } from './staging-file.js';
import { staleFileRemover } from './stale-files.js';
import type { BlobRef, BlobSource, BlobStore, ByteRange, StoredBlob } from './store.js';

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
 * (SHA-256 and SHA-1, one pass) while it is written to a temporary file (staging-file.ts),
 * fsynced, and renamed into place only when the caller commits, so a crash leaves either nothing
 * or a whole file.
 */
export class BlobPool implements BlobStore {
  readonly kind = 'fs';
  readonly root: string;
  private readonly poolDir: string;
  private readonly tmpDir: string;
  private readonly directIo: boolean;
  private hashWorker = false;

  /** `directIo: false` keeps staging writes in the page cache (see StagingFile). */
  constructor(root: string, options: { directIo?: boolean; hashWorker?: boolean } = {}) {
    this.root = root;
    this.directIo = options.directIo ?? true;
    this.hashWorker = options.hashWorker ?? false;
    this.poolDir = path.join(root, 'pool');
    this.tmpDir = path.join(root, 'tmp');
  }

  /**
   * From now on, large payloads are hashed on a worker thread (slab-hasher.ts). `upcat serve`
   * turns this on: hashing an upload inline (~1.3 s of SHA-256 and SHA-1 per GiB) would hold the
   * event loop from every other request and leave the upload bound to one core. A one-shot CLI
   * publish keeps hashing inline and saves the worker's memory.
   */
  hashOffThread(): void {
    this.hashWorker = true;
  }

  async init(): Promise<void> {
    await mkdir(this.poolDir, { recursive: true });
    await mkdir(this.tmpDir, { recursive: true });
    // A crash mid-upload leaves its staging file: gone at the next start, not an hour later.
    await this.sweepStale();
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
      await writeAll(fh, Buffer.from(der));
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

  openRead(sha256: string, range?: ByteRange): ReadStream {
    return createReadStream(this.pathOf(sha256), { ...range, highWaterMark: CHUNK_BYTES });
  }

  /** The port's read: opened once the file is, so a missing blob rejects here (ENOENT). */
  async read(sha256: string, range?: ByteRange): Promise<Readable> {
    const stream = this.openRead(sha256, range);
    await new Promise<void>((resolve, reject) => {
      stream.once('open', () => resolve());
      stream.once('error', reject);
    });
    return stream;
  }

  async source(ref: BlobRef): Promise<BlobSource | undefined> {
    const file =
      ref.kind === 'payload' ? this.pathOf(ref.sha256) : this.signaturePathOf(ref.sha256);
    const st = await stat(file).catch(() => undefined);
    return st?.isFile() === true ? { type: 'file', path: file } : undefined;
  }

  async *list(): AsyncIterable<StoredBlob> {
    for (const prefix of await readdir(this.poolDir).catch(() => [] as string[])) {
      if (!/^[0-9a-f]{2}$/.test(prefix)) continue;
      const dir = path.join(this.poolDir, prefix);
      for (const name of await readdir(dir).catch(() => [] as string[])) {
        if (!SHA256.test(name) || !name.startsWith(prefix)) continue;
        const st = await stat(path.join(dir, name)).catch(() => undefined);
        if (st?.isFile() === true) yield { sha256: name, size: st.size, mtimeMs: st.mtimeMs };
      }
    }
  }

  async remove(sha256: string): Promise<void> {
    await rm(this.pathOf(sha256), { force: true });
    await rm(this.signaturePathOf(sha256), { force: true });
  }

  /**
   * Staging files of killed publishes (tmp/) and half-written signatures (`*.tmp` under
   * signatures/), judged by modification time: a staging file being written is touched by every
   * write, so only one left alone for `graceMs` goes.
   */
  async sweepTemporary(graceMs: number, now: number, dryRun: boolean): Promise<Freed> {
    const freed: Freed = { files: 0, bytes: 0 };
    const take = staleFileRemover(freed, graceMs, now, dryRun);
    for (const name of await readdir(this.tmpDir).catch(() => [] as string[])) {
      await take(path.join(this.tmpDir, name));
    }
    const signatures = path.join(this.root, 'signatures');
    const entries = await readdir(signatures, { recursive: true }).catch(() => [] as string[]);
    for (const rel of entries) if (rel.endsWith('.tmp')) await take(path.join(signatures, rel));
    return freed;
  }

  /**
   * Streams `source` into a staged blob. Refuses (and removes the temporary file) when the
   * content grows past `maxBytes`; the source is never held whole in memory.
   */
  async stage(source: Readable | AsyncIterable<Uint8Array>, maxBytes: number): Promise<StagedBlob> {
    await this.init();
    await this.sweepStale();
    const tmp = path.join(this.tmpDir, `${Date.now()}-${ownerId(48)}.part`);
    const file = await StagingFile.create(tmp, {
      direct: this.directIo,
      hashWorker: this.hashWorker,
    });
    let info: BlobInfo;
    try {
      info = await hashAndWrite(source, file, maxBytes);
    } catch (err) {
      await file.abort();
      await rm(tmp, { force: true });
      if (typeof (source as Readable).destroy === 'function') (source as Readable).destroy();
      throw err;
    }
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
      const [time, owner] = name.split('-');
      const started = Number(time);
      const dead = owner !== undefined && liveness(owner) === 'dead';
      if (dead || (Number.isFinite(started) && now - started > STALE_TMP_MS)) {
        await rm(path.join(this.tmpDir, name), { force: true });
      }
    }
  }
}

/**
 * One pass: each chunk is copied into the staging file's slabs, which are hashed (SHA-256 and
 * SHA-1) and written while the next ones fill (staging-file.ts).
 */
async function hashAndWrite(
  source: Readable | AsyncIterable<Uint8Array>,
  file: StagingFile,
  maxBytes: number,
): Promise<BlobInfo> {
  let size = 0;
  await pump(source, (chunk) => {
    size += chunk.length;
    if (size > maxBytes) {
      throw new UpcatError('too_large', `payload is larger than the limit of ${maxBytes} bytes`, {
        details: { limit: maxBytes },
      });
    }
    return file.write(chunk);
  });
  const { sha256, sha1 } = await file.finish();
  return { sha256, sha1, size };
}

/**
 * Feeds every chunk of `source` to `take`, waiting whenever `take` answers a promise. A stream is
 * read through 'data' events with pause/resume: its async iterator would join queued chunks into
 * a new buffer, one more copy of every byte.
 */
async function pump(
  source: Readable | AsyncIterable<Uint8Array>,
  take: (chunk: Uint8Array) => Promise<void> | undefined,
): Promise<void> {
  if (!isReadable(source)) {
    for await (const chunk of source) await take(chunk);
    return;
  }
  if (source.readableEnded) throw new Error('the stream had already been read');
  if (source.destroyed) throw new Error('the stream closed before its end');
  await new Promise<void>((resolve, reject) => {
    let pending: Promise<void> | undefined;
    let settled = false;
    const settle = (err?: unknown): void => {
      if (settled) return;
      settled = true;
      source.off('data', onData);
      source.off('end', onEnd);
      source.off('error', settle);
      source.off('close', onClose);
      if (err === undefined) resolve();
      else reject(err instanceof Error ? err : new Error(String(err)));
    };
    const onData = (chunk: Uint8Array): void => {
      try {
        pending = take(chunk);
      } catch (err) {
        settle(err);
        return;
      }
      if (pending === undefined) return;
      source.pause();
      pending.then(() => {
        pending = undefined;
        if (!settled) source.resume();
      }, settle);
    };
    const onEnd = (): void => {
      if (pending === undefined) settle();
      else pending.then(() => settle(), settle);
    };
    const onClose = (): void => {
      if (!source.readableEnded) settle(new Error('the stream closed before its end'));
    };
    source.on('data', onData);
    source.on('end', onEnd);
    source.on('error', settle);
    source.on('close', onClose);
    source.resume();
  });
}

function isReadable(source: Readable | AsyncIterable<Uint8Array>): source is Readable {
  return (
    typeof (source as Readable).pause === 'function' &&
    typeof (source as Readable).on === 'function'
  );
}

/** A write to a regular file may in principle be short: loop until every byte is down. */
async function writeAll(fh: FileHandle, bytes: Buffer): Promise<void> {
  let done = 0;
  while (done < bytes.length) done += (await fh.write(bytes, done)).bytesWritten;
}

async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
