import { closeSync, fstatSync, openSync, readSync, statSync, type Stats } from 'node:fs';
import type { NextFunction, Request, Response } from 'express';
import { BlobPool } from '../storage/blobs/pool.js';
import type { BlobRef, BlobStore } from '../storage/blobs/store.js';
import { sendBlob } from './send-blob.js';

/** Blobs up to this size are kept in memory (update documents, signatures, small payloads). */
const MAX_ENTRY_BYTES = 256 * 1024;
/** What all entries together may hold; the least recently served go first. */
const MAX_TOTAL_BYTES = 64 * 1024 * 1024;

interface Entry {
  path: string;
  /** inode, size and mtime of the file the bytes were read from. */
  stamp: string;
  bytes: Buffer;
  headers: Record<string, string>;
}

const stampOf = (st: Stats): string => `${st.ino}:${st.size}:${st.mtimeMs}`;

/**
 * Small blobs of the file-system store answered from memory (issue 16: `upcat verify` asks for
 * every update document, payload and signature of a catalog, and `send`'s stat, open, read and
 * close per file were a quarter of the server's CPU). Only plain GETs are answered here; HEAD,
 * Range and conditional requests go to `sendBlob` as before, and so does any other store.
 *
 * An entry is served only while its file is still there, unchanged: every hit checks the file
 * with one synchronous stat (inode, size, mtime) before answering. gc removes a retired blob's
 * file (src/ops/gc/payloads.ts), possibly from another process, and a re-signed payload's
 * signature is renamed over the old one; either way the stat differs and the request is
 * answered from the store, which then says 404 or sends the new file. Whether a revision names
 * the blob is the caller's check, made before this one.
 */
export class SmallBlobs {
  private readonly entries = new Map<string, Entry>();
  private total = 0;

  constructor(private readonly store: BlobStore) {}

  async send(
    req: Request,
    res: Response,
    next: NextFunction,
    ref: BlobRef,
    options: { etag?: string; contentType?: string } = {},
  ): Promise<void> {
    if (!plainGet(req)) {
      await sendBlob(req, res, next, this.store, ref, options);
      return;
    }
    const key = `${ref.kind}:${ref.sha256}`;
    let entry = this.fresh(key);
    entry ??= this.load(key, ref, options);
    if (entry === undefined) {
      await sendBlob(req, res, next, this.store, ref, options);
      return;
    }
    res.writeHead(200, entry.headers).end(entry.bytes);
  }

  /** The entry when its file is still the one it was read from; else it is dropped. */
  private fresh(key: string): Entry | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    const st = statSync(entry.path, { throwIfNoEntry: false });
    this.entries.delete(key);
    if (st === undefined || stampOf(st) !== entry.stamp) {
      this.total -= entry.bytes.length;
      return undefined;
    }
    this.entries.set(key, entry); // most recently served last
    return entry;
  }

  /**
   * Reads a small pool file whole: synchronously, as `MutableMetadata` reads timestamp.json
   * (open, fstat, read, close are four system calls; through the thread pool each was a promise
   * and a callback, more CPU than the 4 KiB they read). The stamp comes from the open file, so it
   * belongs to the bytes read even if the file is renamed over meanwhile.
   */
  private load(
    key: string,
    ref: BlobRef,
    options: { etag?: string; contentType?: string },
  ): Entry | undefined {
    if (!(this.store instanceof BlobPool)) return undefined;
    const file =
      ref.kind === 'payload'
        ? this.store.pathOf(ref.sha256)
        : this.store.signaturePathOf(ref.sha256);
    let fd: number;
    try {
      fd = openSync(file, 'r');
    } catch {
      return undefined; // absent: the store answers (404)
    }
    let bytes: Buffer;
    let st: Stats;
    try {
      st = fstatSync(fd);
      if (!st.isFile() || st.size > MAX_ENTRY_BYTES) return undefined;
      bytes = Buffer.allocUnsafe(st.size);
      let read = 0;
      while (read < st.size) {
        const n = readSync(fd, bytes, read, st.size - read, read);
        if (n === 0) return undefined; // shorter than it said: let the store answer
        read += n;
      }
    } finally {
      closeSync(fd);
    }
    // The headers `sendImmutable` and `send` give the same file.
    const headers: Record<string, string> = {
      'Content-Type': options.contentType ?? 'application/octet-stream',
      'X-Content-Type-Options': 'nosniff',
      'Accept-Ranges': 'bytes',
      'Cache-Control': 'public, max-age=31536000, immutable',
      'Content-Length': String(bytes.length),
    };
    if (options.etag !== undefined) headers['ETag'] = options.etag;
    const entry: Entry = { path: file, stamp: stampOf(st), bytes, headers };
    this.entries.set(key, entry);
    this.total += bytes.length;
    for (const [k, e] of this.entries) {
      if (this.total <= MAX_TOTAL_BYTES) break;
      this.entries.delete(k);
      this.total -= e.bytes.length;
    }
    return entry;
  }

  /** Entries held (tests). */
  get size(): number {
    return this.entries.size;
  }
}

/** A GET that `send` would answer 200 with the whole file. */
function plainGet(req: Request): boolean {
  const h = req.headers;
  return (
    req.method === 'GET' &&
    h.range === undefined &&
    h['if-none-match'] === undefined &&
    h['if-modified-since'] === undefined &&
    h['if-match'] === undefined &&
    h['if-unmodified-since'] === undefined
  );
}

/** One memory per store, shared by the routes that serve its blobs (/content, /tuf/targets). */
const byStore = new WeakMap<BlobStore, SmallBlobs>();

export function smallBlobsOf(store: BlobStore): SmallBlobs {
  let cache = byStore.get(store);
  if (cache === undefined) {
    cache = new SmallBlobs(store);
    byStore.set(store, cache);
  }
  return cache;
}
