import { createHash } from 'node:crypto';
import { MetaFile, Snapshot, Timestamp, type Metadata, type Targets } from '@tufjs/models';
import { UpcatError } from '../errors.js';
import type { Keyring } from './roles.js';
import type { Signer } from './signer.js';
import {
  expiresAt,
  metadataBytes,
  signersFor,
  signMetadata,
  writeMetadata,
  type ResolvedOptions,
} from './tuf-metadata.js';
import { SPEC_VERSION } from './tuf-root.js';
import { CATALOG_VERSION_FIELD, type RepoState } from './tuf-state.js';
import type { MetadataIO } from './tuf-store.js';

/** Writing single metadata files of the repository, each whole (tuf-store.ts). */

/** A metadata file just written: its version and length, as snapshot lists it. */
export interface Written {
  version: number;
  length: number;
}

export async function writeSnapshot(
  dir: string | MetadataIO,
  signers: readonly Signer[],
  version: number,
  meta: Record<string, MetaFile>,
  catalogVersion: number | undefined,
  opts: ResolvedOptions,
): Promise<MetaFile> {
  const snapshot = new Snapshot({
    version,
    specVersion: SPEC_VERSION,
    expires: expiresAt(opts, 'snapshot'),
    meta,
    unrecognizedFields:
      catalogVersion === undefined ? {} : { [CATALOG_VERSION_FIELD]: catalogVersion },
  });
  const bytes = metadataBytes(await signMetadata(snapshot, signers));
  await writeMetadata(dir, `${version}.snapshot.json`, bytes);
  // Timestamp pins the snapshot by length and hash (spec §4.6), which stops mix-and-match
  // and endless-data answers for the one file that every update check downloads.
  return new MetaFile({
    version,
    length: bytes.length,
    hashes: { sha256: createHash('sha256').update(bytes).digest('hex') },
  });
}

/** timestamp.json is written last, by rename: it is what makes a new version visible. */
export async function writeTimestamp(
  dir: string | MetadataIO,
  state: RepoState,
  ring: Keyring,
  snapshotMeta: MetaFile,
  opts: ResolvedOptions,
): Promise<number> {
  const named = state.root.signed.roles['timestamp'];
  if (named === undefined) throw new UpcatError('integrity', 'root names no timestamp role');
  const version = state.timestamp.signed.version + 1;
  const md = await signMetadata(
    new Timestamp({
      version,
      specVersion: SPEC_VERSION,
      expires: expiresAt(opts, 'timestamp'),
      snapshotMeta,
    }),
    signersFor('timestamp', named, ring.timestamp),
  );
  await writeMetadata(dir, 'timestamp.json', metadataBytes(md));
  return version;
}

/** Writes N.<role>.json (version-prefixed: consistent snapshots, spec §5.6.1). */
export async function writeRole(
  dir: string | MetadataIO,
  role: string,
  md: Metadata<Targets>,
  written: string[],
): Promise<Written> {
  const bytes = metadataBytes(md);
  const name = `${md.signed.version}.${role}.json`;
  await writeMetadata(dir, name, bytes);
  written.push(name);
  return { version: md.signed.version, length: bytes.length };
}

/** Snapshot lists version and length (a download cap for clients); hashes add bytes, not trust. */
export function metaFile(w: Written): MetaFile {
  return new MetaFile({ version: w.version, length: w.length });
}
