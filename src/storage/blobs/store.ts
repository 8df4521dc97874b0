import type { Readable } from 'node:stream';
import type { Freed } from '../../ops/gc/freed.js';
import type { StagedBlob } from './pool.js';

export type { BlobInfo, StagedBlob } from './pool.js';

/** A byte range, both ends inclusive (as in an HTTP Range header). */
export interface ByteRange {
  start: number;
  end: number;
}

/** What a stored object is: a payload (or update document) by digest, or a payload's signature. */
export interface BlobRef {
  sha256: string;
  kind: 'payload' | 'signature';
}

/**
 * How a route answers for a stored object: a local file (Range, ETag and 304 answered by `send`),
 * a redirect (presigned URL or CDN), or an object read through the store.
 */
export type BlobSource =
  | { type: 'file'; path: string }
  | { type: 'redirect'; url: string }
  | { type: 'object'; size: number; etag?: string; open(range?: ByteRange): Promise<Readable> };

/** A content-addressed object in the store, as collection sees it. */
export interface StoredBlob {
  sha256: string;
  size: number;
  mtimeMs: number;
}

/**
 * The blob store port (issue 15 item 1, DESIGN.md §4): payloads and update documents under
 * `pool/<aa>/<sha256>`, payload signatures under `signatures/<aa>/<sha256>.p7s`. Two adapters:
 * the file system (pool.ts, the default) and S3 (s3-store.ts). A blob is staged (hashed while it
 * streams, not yet visible) and committed before the transaction that names it, so no committed
 * row names a missing object; a crash leaves at worst an unreferenced object that gc removes.
 */
export interface BlobStore {
  readonly kind: 'fs' | 's3';
  init(): Promise<void>;
  stage(source: Readable | AsyncIterable<Uint8Array>, maxBytes: number): Promise<StagedBlob>;
  sizeOf(sha256: string): Promise<number | undefined>;
  read(sha256: string, range?: ByteRange): Promise<Readable>;
  writeSignature(sha256: string, der: Uint8Array): Promise<void>;
  /** Re-hashes a stored blob: true when its bytes still match its name. */
  verify(sha256: string): Promise<boolean>;
  /** Every committed blob (collection). */
  list(): AsyncIterable<StoredBlob>;
  /** Removes a blob and its signature; safe when already gone. */
  remove(sha256: string): Promise<void>;
  /** Removes staging objects of killed publishes untouched for `graceMs` (collection). */
  sweepTemporary(graceMs: number, now: number, dryRun: boolean): Promise<Freed>;
  /** How to serve an object; undefined when it is absent. */
  source(ref: BlobRef): Promise<BlobSource | undefined>;
}
