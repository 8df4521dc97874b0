/**
 * Payloads as Windows Update Agents download them ([MS-WUSP] 2.2.2.5, 3.1.5.9/10): each payload
 * is wrapped in a cabinet signed with the site's publisher certificate, as WSUS does for locally
 * published updates (a WUA installs third-party content only when its signature chains to a
 * Trusted Publisher). The wrapped file is made once per payload, kept under
 * `packages/wusp/<aa>/<source sha256>.cab` and named in `wusp_content` with the SHA-1 and
 * SHA-256 of its bytes, which the File elements and FileLocations carry. Its URL is stable and
 * laid out as WSUS lays out content (note <56>): `/Content/<last two hex of SHA-1>/<SHA-1>.cab`.
 *
 * The wrapping step is a `PayloadWrapper`, so another format (or none, in tests of the protocol
 * alone) plugs in without touching the protocol code.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { LocalBlob } from '../../storage/blobs/local-copy.js';
import type { BlobStore } from '../../storage/blobs/store.js';
import type { Db } from '../../storage/db.js';
import { now } from '../../storage/catalog-repo.js';
import { writeCab } from '../cab/index.js';
import { signCabInPlace, type AuthenticodeSigner } from '../authenticode/index.js';
import type { DownloadFile } from './update-xml.js';

export interface PayloadSource {
  /** SHA-256 of the payload in the pool. */
  sha256: string;
  /** Path of the payload in the pool. */
  path: string;
  /** The file name the handler runs (the name inside the cabinet). */
  name: string;
}

/** Turns a payload into the file a WUA downloads, written at `out`. */
export interface PayloadWrapper {
  /** Stored with each wrapped file: a change of wrapper makes new files, never mixes them. */
  readonly id: string;
  /** The downloaded file's name as the File element gives it. */
  fileName(source: PayloadSource): string;
  wrap(source: PayloadSource, out: string): Promise<void>;
}

/** The payload in an MSZIP cabinet with the Authenticode reserve, signed in place. */
export class SignedCabWrapper implements PayloadWrapper {
  readonly id = 'cab-authenticode-1';

  constructor(private readonly signer: AuthenticodeSigner) {}

  fileName(source: PayloadSource): string {
    return `${source.sha256.slice(0, 32)}.cab`;
  }

  async wrap(source: PayloadSource, out: string): Promise<void> {
    await writeCab([{ name: source.name, source: source.path }], out, { signatureReserve: true });
    await signCabInPlace(out, this.signer);
  }
}

export interface WrappedPayload extends DownloadFile {
  /** Absolute path of the wrapped file. */
  path: string;
  /** Site-relative URL, the same for every request. */
  url: string;
}

interface ContentRow {
  source_sha256: string;
  wrapper: string;
  sha1: string;
  sha256: string;
  size: number | string;
}

export class WuspContent {
  private readonly dir: string;
  private readonly inFlight = new Map<string, Promise<WrappedPayload>>();

  constructor(
    private readonly deps: {
      db: Db;
      packagesDir: string;
      wrapper: PayloadWrapper;
      /**
       * An object store other than the local pool (issue 15): the payload is copied here to be
       * wrapped, and the wrapped file is stored there too, so every node serves it.
       */
      remote?: { store: BlobStore; localCopy(sha256: string): Promise<LocalBlob> };
    },
  ) {
    this.dir = path.join(deps.packagesDir, 'wusp');
  }

  static urlOf(sha1: string): string {
    const hex = sha1.toUpperCase();
    return `/Content/${hex.slice(-2)}/${hex}.cab`;
  }

  private pathOf(sourceSha256: string): string {
    return path.join(this.dir, sourceSha256.slice(0, 2), `${sourceSha256}.cab`);
  }

  /** The wrapped file of a payload, made on first use. */
  ensure(source: PayloadSource): Promise<WrappedPayload> {
    const held = this.inFlight.get(source.sha256);
    if (held !== undefined) return held;
    const work = this.make(source).finally(() => this.inFlight.delete(source.sha256));
    this.inFlight.set(source.sha256, work);
    return work;
  }

  private async make(source: PayloadSource): Promise<WrappedPayload> {
    const name = this.deps.wrapper.fileName(source);
    const file = this.pathOf(source.sha256);
    const row = (await this.deps
      .db('wusp_content')
      .where({ source_sha256: source.sha256 })
      .first()) as ContentRow | undefined;
    if (row !== undefined && row.wrapper === this.deps.wrapper.id && (await this.kept(row, file))) {
      return {
        name,
        path: file,
        sha1: row.sha1,
        sha256: row.sha256,
        size: Number(row.size),
        url: WuspContent.urlOf(row.sha1),
      };
    }
    await mkdir(path.dirname(file), { recursive: true });
    const tmp = `${file}.tmp-${randomBytes(6).toString('hex')}`;
    const remote = this.deps.remote;
    const copy = await remote?.localCopy(source.sha256);
    try {
      await this.deps.wrapper.wrap(
        copy === undefined ? source : { ...source, path: copy.path },
        tmp,
      );
      const digests = await hashFile(tmp);
      if (remote !== undefined) await storeWrapped(remote.store, tmp, digests.size);
      await rename(tmp, file);
      const fresh = {
        source_sha256: source.sha256,
        wrapper: this.deps.wrapper.id,
        sha1: digests.sha1,
        sha256: digests.sha256,
        size: digests.size,
        created_at: now(),
      };
      await this.deps.db('wusp_content').insert(fresh).onConflict('source_sha256').merge();
      return { name, path: file, ...digests, url: WuspContent.urlOf(digests.sha1) };
    } finally {
      await copy?.release();
      await rm(tmp, { force: true });
    }
  }

  /** Whether a wrapped file made before is still there: in the object store, or here. */
  private async kept(row: ContentRow, file: string): Promise<boolean> {
    const store = this.deps.remote?.store;
    return store === undefined ? exists(file) : (await store.sizeOf(row.sha256)) !== undefined;
  }

  /** The wrapped file whose SHA-1 this is, if it was made (the /Content route). */
  async bySha1(sha1: string): Promise<{ path: string; sha256: string } | undefined> {
    const row = (await this.deps.db('wusp_content').where({ sha1 }).first()) as
      ContentRow | undefined;
    if (row === undefined || row.wrapper !== this.deps.wrapper.id) return undefined;
    return { path: this.pathOf(row.source_sha256), sha256: row.sha256 };
  }
}

/** The wrapped file into the object store under its SHA-256, as a payload is. */
async function storeWrapped(store: BlobStore, file: string, size: number): Promise<void> {
  const staged = await store.stage(createReadStream(file), size);
  try {
    await staged.commit();
  } finally {
    await staged.discard();
  }
}

async function exists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch {
    return false;
  }
}

async function hashFile(file: string): Promise<{ sha1: string; sha256: string; size: number }> {
  const sha1 = createHash('sha1');
  const sha256 = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(file)) {
    sha1.update(chunk as Buffer);
    sha256.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { sha1: sha1.digest('hex'), sha256: sha256.digest('hex'), size };
}
