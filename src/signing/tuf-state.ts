import {
  MetadataKind,
  type Metadata,
  type Root,
  type Snapshot,
  type TargetFile,
  type Targets,
  type Timestamp,
} from '@tufjs/models';
import { UpcatError } from '../errors.js';
import type { SuccinctRoles } from './tuf-bins.js';
import { readMetadata } from './tuf-metadata.js';
import { readRoot } from './tuf-root.js';
import { ioOf, type MetadataIO } from './tuf-store.js';

/** The field of snapshot metadata that records which catalog version it describes. */
export const CATALOG_VERSION_FIELD = 'x-upcat-catalog-version';

/**
 * The repository as the last complete write left it, found the way a client finds it: from
 * timestamp.json to its snapshot version, and from the snapshot to the targets version
 * (TUF spec §5.4 to §5.6). Files of a write in progress are not reachable from timestamp.json.
 */
export interface RepoState {
  root: Metadata<Root>;
  timestamp: Metadata<Timestamp>;
  snapshot: Metadata<Snapshot>;
  targets: Metadata<Targets>;
  bins: SuccinctRoles;
}

export async function readState(repo: string | MetadataIO): Promise<RepoState | undefined> {
  const dir = ioOf(repo);
  const timestamp = await readMetadata(dir, 'timestamp.json', MetadataKind.Timestamp);
  if (timestamp === undefined) return undefined;
  const root = await readRoot(dir);
  const snapshotName = `${timestamp.signed.snapshotMeta.version}.snapshot.json`;
  const snapshot = await readMetadata(dir, snapshotName, MetadataKind.Snapshot);
  if (root === undefined || snapshot === undefined) {
    throw missing(dir, root === undefined ? 'root.json' : snapshotName);
  }
  const targetsName = `${metaVersion(snapshot, 'targets')}.targets.json`;
  const targets = await readMetadata(dir, targetsName, MetadataKind.Targets);
  if (targets === undefined) throw missing(dir, targetsName);
  const bins = targets.signed.delegations?.succinctRoles;
  if (bins === undefined) {
    throw new UpcatError(
      'integrity',
      `${targetsName} in ${dir.label} has no hashed-bin delegation`,
    );
  }
  return { root, timestamp, snapshot, targets, bins };
}

/** The current metadata of one bin (a delegated targets role). */
export async function readBin(
  dir: string | MetadataIO,
  state: RepoState,
  bin: string,
): Promise<Metadata<Targets>> {
  const name = `${metaVersion(state.snapshot, bin)}.${bin}.json`;
  const md = await readMetadata(dir, name, MetadataKind.Targets);
  if (md === undefined) throw missing(dir, name);
  return md;
}

/** Every target of the current version, by name (reads every bin: for verify and catch-up). */
/** Bins read concurrently by listTargets. */
const BIN_READS_AT_ONCE = 64;

export async function listTargets(repo: string | MetadataIO): Promise<Map<string, TargetFile>> {
  const dir = ioOf(repo);
  const state = await readState(dir);
  const out = new Map<string, TargetFile>();
  if (state === undefined) return out;
  // Read several bins at a time: one by one, each read waits its turn on libuv's four threads
  // behind whatever the server is reading for clients, and a full re-list under load took a minute
  // (found by test/integration/concurrent-publish.test.ts on PostgreSQL).
  const roles = [...state.bins.getRoles()];
  for (let i = 0; i < roles.length; i += BIN_READS_AT_ONCE) {
    const group = roles.slice(i, i + BIN_READS_AT_ONCE);
    const read = await Promise.all(group.map((bin) => readBin(dir, state, bin)));
    for (const md of read) {
      for (const [name, file] of Object.entries(md.signed.targets)) out.set(name, file);
    }
  }
  return out;
}

/** The version of `<role>.json` that the snapshot names (TUF spec §4.4, "METAFILES"). */
export function metaVersion(snapshot: Metadata<Snapshot>, role: string): number {
  const meta = snapshot.signed.meta[`${role}.json`];
  if (meta === undefined) {
    throw new UpcatError('integrity', `snapshot version ${snapshot.signed.version} omits ${role}`);
  }
  return meta.version;
}

export function catalogVersionOf(snapshot: Metadata<Snapshot>): number | undefined {
  const value = snapshot.signed.unrecognizedFields[CATALOG_VERSION_FIELD];
  return typeof value === 'number' ? value : undefined;
}

function missing(repo: string | MetadataIO, name: string): UpcatError {
  return new UpcatError('integrity', `TUF metadata ${name} is missing from ${ioOf(repo).label}`);
}
