import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { PassThrough, type Readable } from 'node:stream';
import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCopyCommand,
  paginateListObjectsV2,
  type CompletedPart,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { UpcatError } from '../../errors.js';
import type { Freed } from '../../ops/gc/freed.js';
import { ownerId } from '../owner.js';
import type { BlobPool, StagedBlob } from './pool.js';
import type { BlobRef, BlobSource, BlobStore, ByteRange, StoredBlob } from './store.js';

export interface S3BlobConfig {
  bucket: string;
  prefix: string;
  endpoint?: string | undefined;
  region: string;
  forcePathStyle: boolean;
  redirect?: string | undefined;
}

export interface S3StoreOptions {
  /** Multipart upload part size (bytes); also what one upload holds in memory per part in flight. */
  partBytes?: number;
  /** Largest object promoted by one CopyObject; larger ones are copied in parts (UploadPartCopy). */
  singleCopyMaxBytes?: number;
  /** Part size of a multipart copy. */
  copyPartBytes?: number;
  /** Lifetime of a presigned URL (seconds). */
  presignSeconds?: number;
}

const SHA256 = /^[0-9a-f]{64}$/;
const POOL_NAME = /^([0-9a-f]{2})\/([0-9a-f]{64})$/;
const MiB = 1024 * 1024;

/**
 * The S3 adapter of the blob store port (issue 15 item 1), for AWS S3 and S3-compatible stores
 * (MinIO, Ceph RGW, R2) through the AWS SDK; credentials come from the SDK's default chain
 * (environment, shared files, instance roles).
 *
 * Staging: the payload's SHA-256, which names it, is known only at its end, so it streams to a
 * temporary key `<prefix>tmp/<time>-<owner>` in a multipart upload while the same bytes are
 * hashed and written to a local staging file (the publish inspects the package from it). Commit
 * copies the temporary object to `<prefix>pool/<aa>/<sha256>` server-side and deletes the
 * temporary one; a crash leaves only objects no row names, which collection removes.
 */
export class S3BlobStore implements BlobStore {
  readonly kind = 's3';
  readonly client: S3Client;
  private readonly partBytes: number;
  private readonly singleCopyMaxBytes: number;
  private readonly copyPartBytes: number;
  private readonly presignSeconds: number;

  constructor(
    private readonly config: S3BlobConfig,
    /** Local staging (and its off-thread hashing): the site's file-system pool. */
    private readonly local: BlobPool,
    options: S3StoreOptions = {},
    client?: S3Client,
  ) {
    this.client =
      client ??
      new S3Client({
        region: config.region,
        forcePathStyle: config.forcePathStyle,
        ...(config.endpoint === undefined ? {} : { endpoint: config.endpoint }),
      });
    this.partBytes = options.partBytes ?? 16 * MiB;
    this.singleCopyMaxBytes = options.singleCopyMaxBytes ?? 5 * 1024 * MiB;
    this.copyPartBytes = options.copyPartBytes ?? 512 * MiB;
    this.presignSeconds = options.presignSeconds ?? 300;
  }

  async init(): Promise<void> {
    await this.local.init();
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.config.bucket }));
    } catch (err) {
      throw new UpcatError(
        'invalid_config',
        `storage.blobs: bucket "${this.config.bucket}" is not reachable: ${errorName(err)}`,
      );
    }
  }

  poolKey(sha256: string): string {
    return `${this.config.prefix}pool/${digestPath(sha256)}`;
  }

  signatureKey(sha256: string): string {
    return `${this.config.prefix}signatures/${digestPath(sha256)}.p7s`;
  }

  async stage(source: Readable | AsyncIterable<Uint8Array>, maxBytes: number): Promise<StagedBlob> {
    const tmpKey = `${this.config.prefix}tmp/${Date.now()}-${ownerId(48)}`;
    const body = new PassThrough({ highWaterMark: this.partBytes });
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.config.bucket, Key: tmpKey, Body: body },
      partSize: this.partBytes,
      queueSize: 4,
      leavePartsOnError: false,
    });
    const uploaded = upload.done();
    // A failed upload stops the local side too (the tee waits on the body's 'drain' or 'error').
    uploaded.catch((err: unknown) =>
      body.destroy(err instanceof Error ? err : new Error('upload')),
    );
    let local: StagedBlob | undefined;
    try {
      local = await this.local.stage(tee(source, body), maxBytes);
      await uploaded;
    } catch (err) {
      await upload.abort().catch(() => undefined);
      body.destroy();
      if (typeof (source as Readable).destroy === 'function') (source as Readable).destroy();
      await local?.discard();
      await this.deleteKey(tmpKey).catch(() => undefined);
      throw err;
    }
    return this.staged(local, tmpKey);
  }

  private staged(local: StagedBlob, tmpKey: string): StagedBlob {
    let tmpGone = false;
    return {
      sha256: local.sha256,
      sha1: local.sha1,
      size: local.size,
      path: local.path,
      commit: async () => {
        await this.promote(tmpKey, this.poolKey(local.sha256), local.size);
        await this.deleteKey(tmpKey);
        tmpGone = true;
        await local.discard();
      },
      discard: async () => {
        await local.discard();
        if (!tmpGone) await this.deleteKey(tmpKey);
        tmpGone = true;
      },
    };
  }

  /** Server-side copy into the pool; identical content already there is kept as it is. */
  private async promote(from: string, to: string, size: number): Promise<void> {
    if ((await this.headSize(to)) === size) return;
    const Bucket = this.config.bucket;
    const CopySource = `${Bucket}/${encodeKey(from)}`;
    if (size <= this.singleCopyMaxBytes) {
      await this.client.send(new CopyObjectCommand({ Bucket, Key: to, CopySource }));
      return;
    }
    // CopyObject stops at 5 GiB: larger objects are copied part by part.
    const { UploadId } = await this.client.send(
      new CreateMultipartUploadCommand({ Bucket, Key: to }),
    );
    const parts: CompletedPart[] = [];
    for (let start = 0, n = 1; start < size; start += this.copyPartBytes, n += 1) {
      const end = Math.min(start + this.copyPartBytes, size) - 1;
      const out = await this.client.send(
        new UploadPartCopyCommand({
          Bucket,
          Key: to,
          UploadId,
          PartNumber: n,
          CopySource,
          CopySourceRange: `bytes=${start}-${end}`,
        }),
      );
      parts.push({ PartNumber: n, ETag: out.CopyPartResult?.ETag });
    }
    await this.client.send(
      new CompleteMultipartUploadCommand({
        Bucket,
        Key: to,
        UploadId,
        MultipartUpload: { Parts: parts },
      }),
    );
  }

  sizeOf(sha256: string): Promise<number | undefined> {
    return this.headSize(this.poolKey(sha256));
  }

  read(sha256: string, range?: ByteRange): Promise<Readable> {
    return this.readKey(this.poolKey(sha256), range);
  }

  async writeSignature(sha256: string, der: Uint8Array): Promise<void> {
    await this.client.send(
      new PutObjectCommand({
        Bucket: this.config.bucket,
        Key: this.signatureKey(sha256),
        Body: der,
        ContentType: 'application/pkcs7-signature',
      }),
    );
  }

  async verify(sha256: string): Promise<boolean> {
    const hash = createHash('sha256');
    try {
      for await (const chunk of await this.read(sha256)) hash.update(chunk as Buffer);
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
    return hash.digest('hex') === sha256;
  }

  async *list(): AsyncIterable<StoredBlob> {
    const prefix = `${this.config.prefix}pool/`;
    for await (const page of paginateListObjectsV2(
      { client: this.client },
      { Bucket: this.config.bucket, Prefix: prefix },
    )) {
      for (const o of page.Contents ?? []) {
        const m = POOL_NAME.exec((o.Key ?? '').slice(prefix.length));
        if (m === null || !(m[2] as string).startsWith(m[1] as string)) continue;
        yield {
          sha256: m[2] as string,
          size: o.Size ?? 0,
          mtimeMs: o.LastModified?.getTime() ?? 0,
        };
      }
    }
  }

  async remove(sha256: string): Promise<void> {
    await this.deleteKey(this.poolKey(sha256));
    await this.deleteKey(this.signatureKey(sha256));
  }

  /**
   * Temporary objects of killed publishes (`<prefix>tmp/`) and the local staging files. Parts of
   * a multipart upload that was never completed nor aborted are not objects: a bucket lifecycle
   * rule (AbortIncompleteMultipartUpload) removes them (docs/OPERATIONS.md).
   */
  async sweepTemporary(graceMs: number, now: number, dryRun: boolean): Promise<Freed> {
    const freed = await this.local.sweepTemporary(graceMs, now, dryRun);
    for await (const page of paginateListObjectsV2(
      { client: this.client },
      { Bucket: this.config.bucket, Prefix: `${this.config.prefix}tmp/` },
    )) {
      for (const o of page.Contents ?? []) {
        if (o.Key === undefined || now - (o.LastModified?.getTime() ?? now) < graceMs) continue;
        if (!dryRun) await this.deleteKey(o.Key);
        freed.files += 1;
        freed.bytes += o.Size ?? 0;
      }
    }
    return freed;
  }

  async source(ref: BlobRef): Promise<BlobSource | undefined> {
    const key = ref.kind === 'payload' ? this.poolKey(ref.sha256) : this.signatureKey(ref.sha256);
    const redirect = this.config.redirect;
    // A committed row names only committed objects (the publish copies before it commits), so a
    // redirect needs no HEAD: the store answers 404 itself for an object gc removed since.
    if (redirect === 'presigned') {
      const url = await getSignedUrl(
        this.client,
        new GetObjectCommand({ Bucket: this.config.bucket, Key: key }),
        { expiresIn: this.presignSeconds },
      );
      return { type: 'redirect', url };
    }
    if (redirect !== undefined) {
      return { type: 'redirect', url: `${redirect.replace(/\/+$/, '')}/${encodeKey(key)}` };
    }
    const head = await this.head(key);
    if (head === undefined) return undefined;
    return {
      type: 'object',
      size: head.size,
      etag: head.etag,
      open: (range) => this.readKey(key, range),
    };
  }

  private async readKey(key: string, range?: ByteRange): Promise<Readable> {
    const out = await this.client.send(
      new GetObjectCommand({
        Bucket: this.config.bucket,
        Key: key,
        ...(range === undefined ? {} : { Range: `bytes=${range.start}-${range.end}` }),
      }),
    );
    // In Node the SDK's body is the response's IncomingMessage, a Readable.
    return out.Body as Readable;
  }

  private async headSize(key: string): Promise<number | undefined> {
    return (await this.head(key))?.size;
  }

  private async head(key: string): Promise<{ size: number; etag?: string } | undefined> {
    try {
      const h = await this.client.send(
        new HeadObjectCommand({ Bucket: this.config.bucket, Key: key }),
      );
      return { size: h.ContentLength ?? 0, ...(h.ETag === undefined ? {} : { etag: h.ETag }) };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  private async deleteKey(key: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.config.bucket, Key: key }));
  }
}

/**
 * Passes every chunk to the upload's body (waiting while it is full) and on to the local
 * staging, which hashes it; the body ends with the source.
 */
async function* tee(
  source: Readable | AsyncIterable<Uint8Array>,
  body: PassThrough,
): AsyncIterable<Uint8Array> {
  for await (const chunk of source as AsyncIterable<Uint8Array>) {
    if (!body.write(chunk)) await once(body, 'drain');
    yield chunk;
  }
  body.end();
}

/** `<aa>/<sha256>` of a checked digest. */
function digestPath(sha256: string): string {
  if (!SHA256.test(sha256))
    throw new UpcatError('invalid_input', `not a SHA-256 digest: ${sha256}`);
  return `${sha256.slice(0, 2)}/${sha256}`;
}

/** A key in a CopySource header: URL-encoded, its slashes kept. */
function encodeKey(key: string): string {
  return encodeURIComponent(key).replace(/%2F/g, '/');
}

function isNotFound(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e.name === 'NotFound' || e.name === 'NoSuchKey' || e.$metadata?.httpStatusCode === 404;
}

function errorName(err: unknown): string {
  const e = err as { name?: string; message?: string };
  return e.name ?? e.message ?? String(err);
}
