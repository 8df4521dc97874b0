/**
 * A vendor payload, checked against the catalog before anything is published (issue 11 item 2):
 * staged into the pool's temporary area (hashed while it streams, never past the declared Size),
 * then published only when its SHA-1 and size (and SHA-256, when the vendor gives an
 * AdditionalDigest) equal the OriginFile's. Otherwise the package fails naming both digests.
 */
import { createReadStream } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { errnoCode, invalidInput, isUpcatError, UpcatError } from '../../errors.js';
import type { BlobStore, StagedBlob } from '../../storage/blobs/store.js';
import { checkPayload, type PayloadKind, type PayloadLimits } from '../payload-check.js';
import { fetchPayload, type FetchOptions } from './fetch.js';
import type { OriginFile } from './vendor-metadata.js';
import type { VendorPackage } from './vendor-package.js';

export interface PreparedPayload {
  staged: StagedBlob;
  fileName: string;
  kind: PayloadKind;
}

/** Where payloads come from for an import: a folder, the vendor's URLs, or nowhere. */
export interface PayloadSources {
  dir?: string;
  fetch?: FetchOptions;
}

export interface PayloadDeps {
  blobs: BlobStore;
  limits: PayloadLimits;
}

/** Stages and checks a payload from any stream. */
export async function stageVerified(
  deps: PayloadDeps,
  pkg: VendorPackage,
  source: Readable,
): Promise<PreparedPayload> {
  const origin = originOf(pkg);
  let staged: StagedBlob;
  try {
    staged = await deps.blobs.stage(source, origin.size);
  } catch (err) {
    if (isUpcatError(err) && err.code === 'too_large') {
      throw new UpcatError(
        'integrity',
        `payload ${origin.fileName} is larger than the catalog's Size of ${origin.size} bytes`,
      );
    }
    throw err;
  }
  try {
    checkDigests(origin, staged);
    const kind = await checkPayload(
      staged.path,
      origin.fileName,
      pkg.manifest.handler,
      deps.limits,
    );
    return { staged, fileName: origin.fileName, kind };
  } catch (err) {
    await staged.discard();
    throw err;
  }
}

/** A file named by the caller (`upcat content add ID FILE`). */
export async function stageFile(
  deps: PayloadDeps,
  pkg: VendorPackage,
  file: string,
): Promise<PreparedPayload> {
  await requireFile(file);
  return stageVerified(deps, pkg, createReadStream(file));
}

/**
 * The payload of an imported package from the import's sources: undefined when none has it
 * (the folder lacks the file and there is no fetching), for the caller to decide.
 */
export async function preparePayload(
  deps: PayloadDeps,
  pkg: VendorPackage,
  sources: PayloadSources,
): Promise<PreparedPayload | undefined> {
  const origin = pkg.vendor.originFile;
  if (sources.dir !== undefined) {
    const name = path.basename(origin?.fileName ?? '');
    const file = path.join(sources.dir, name);
    if (name !== '' && (await isFile(file))) {
      return stageVerified(deps, pkg, createReadStream(file));
    }
  }
  if (sources.fetch !== undefined) {
    const from = originOf(pkg);
    if (from.uri === undefined) return undefined;
    const file = await fetchPayload(from.uri, from.fileName, from.size, sources.fetch);
    try {
      return await stageVerified(deps, pkg, createReadStream(file));
    } finally {
      await rm(file, { force: true });
    }
  }
  return undefined;
}

/** The OriginFile, which a payload needs: without the vendor's digest nothing can be checked. */
export function originOf(pkg: VendorPackage): OriginFile {
  const origin = pkg.vendor.originFile;
  if (origin === undefined) {
    throw invalidInput(
      `update ${pkg.updateId}: the catalog gives no sdp:OriginFile (digest and size), so no payload can be checked`,
    );
  }
  return origin;
}

function checkDigests(origin: OriginFile, staged: StagedBlob): void {
  const sha256Differs = origin.sha256 !== undefined && origin.sha256 !== staged.sha256;
  if (staged.sha1 === origin.sha1 && staged.size === origin.size && !sha256Differs) return;
  throw new UpcatError(
    'integrity',
    `payload ${origin.fileName} does not match the catalog: SHA-1 ${staged.sha1}, ${staged.size} bytes` +
      `${sha256Differs ? `, SHA-256 ${staged.sha256}` : ''}; the catalog says SHA-1 ${origin.sha1}, ` +
      `${origin.size} bytes${sha256Differs ? `, SHA-256 ${origin.sha256 ?? ''}` : ''}`,
    {
      details: {
        sha1: staged.sha1,
        size: staged.size,
        expectedSha1: origin.sha1,
        expectedSize: origin.size,
      },
    },
  );
}

async function isFile(file: string): Promise<boolean> {
  try {
    return (await stat(file)).isFile();
  } catch {
    return false;
  }
}

async function requireFile(file: string): Promise<void> {
  try {
    if (!(await stat(file)).isFile()) throw invalidInput(`${file} is not a file`);
  } catch (err) {
    if (isUpcatError(err)) throw err;
    if (errnoCode(err) === 'ENOENT') throw invalidInput(`${file} does not exist`);
    throw invalidInput(`cannot read ${file}: ${(err as Error).message}`);
  }
}
