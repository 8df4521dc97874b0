import path from 'node:path';
import { MetaFile, Timestamp, type TargetFile, type Targets } from '@tufjs/models';
import { UpcatError } from '../errors.js';
import type { SuccinctRoles } from './tuf-bins.js';
import type { Keyring } from './roles.js';
import type { Signer } from './signer.js';
import { buildBin, buildTopTargets, groupByBin } from './tuf-bins.js';
import {
  expiresAt,
  metadataBytes,
  needsRefresh,
  resolveOptions,
  signersFor,
  signMetadata,
  writeMetadata,
  type RepoOptions,
  type ResolvedOptions,
} from './tuf-metadata.js';
import { SPEC_VERSION, buildRoot, writeRoot } from './tuf-root.js';
import { metaFile, writeRole, writeSnapshot, writeTimestamp, type Written } from './tuf-write.js';
import { catalogVersionOf, metaVersion, readBin, readState, type RepoState } from './tuf-state.js';
import { toTargetFile, type TargetChanges } from './tuf-targets.js';
import { storeOf, type MetadataIO, type RepoRef } from './tuf-store.js';

/** What a write left on disk; `written` lists files in write order (timestamp.json last). */
export interface RepoSummary {
  rootVersion: number;
  targetsVersion: number;
  snapshotVersion: number;
  timestampVersion: number;
  /** The catalog version the snapshot describes, when the caller gave one. */
  catalogVersion: number | undefined;
  binCount: number;
  written: string[];
}

/**
 * Writes the next repository version for one catalog version (TUF spec §4, consistent snapshots):
 * the bins that hold an added or removed target, targets.json only when it nears expiry, then
 * N.snapshot.json and timestamp.json last. With no repository in `dir` yet, creates version 1
 * (root, targets, every bin, snapshot, timestamp). A `catalogVersion` at or below the one already
 * written is a replay and writes nothing, so a caller can safely retry after a crash.
 */
export async function publishTargets(
  repo: RepoRef,
  ring: Keyring,
  changes: TargetChanges & { catalogVersion?: number },
  options: RepoOptions = {},
): Promise<RepoSummary> {
  const opts = resolveOptions(options);
  const adds = (changes.add ?? []).map(toTargetFile);
  const removes = [...(changes.remove ?? [])];
  return storeOf(repo).writing(async (dir) => {
    const state = await readState(dir);
    if (state === undefined) return create(dir, ring, adds, changes.catalogVersion, opts);
    const recorded = catalogVersionOf(state.snapshot);
    if (
      changes.catalogVersion !== undefined &&
      recorded !== undefined &&
      changes.catalogVersion <= recorded
    ) {
      return summary(state, recorded, []);
    }
    const written: string[] = [];
    const bins = await rewriteBins(dir, state, ring, adds, removes, opts, written);
    const targets = await maybeResignTargets(dir, state, ring, false, opts, written);
    return commitSnapshot(
      dir,
      state,
      ring,
      { bins, targets },
      changes.catalogVersion,
      opts,
      written,
    );
  });
}

/**
 * Keeps an idle repository fresh (TUF spec §4.2 "expires"): re-signs every online role that has
 * less than `refreshFraction` of its period left (bins and targets, then snapshot, then
 * timestamp). Run it on a timer well inside the timestamp period. `force` re-signs the named
 * levels whatever their expiry (used after a key rotation).
 */
export async function refreshTimestamp(
  repo: RepoRef,
  ring: Keyring,
  options: RepoOptions & { force?: { targets?: boolean; snapshot?: boolean } } = {},
): Promise<RepoSummary> {
  const opts = resolveOptions(options);
  return storeOf(repo).writing(async (dir) =>
    refreshUnlocked(dir, ring, opts, options.force ?? {}),
  );
}

/** Same, for callers that already hold the repository lock (a key rotation). */
export async function refreshUnlocked(
  dir: string | MetadataIO,
  ring: Keyring,
  opts: ResolvedOptions,
  force: { targets?: boolean; snapshot?: boolean; timestamp?: boolean },
): Promise<RepoSummary> {
  const state = await readState(dir);
  if (state === undefined)
    throw new UpcatError(
      'not_found',
      `no TUF repository in ${typeof dir === 'string' ? dir : dir.label}`,
    );
  const written: string[] = [];
  const bins = new Map<string, Written>();
  // After a targets rotation the bins are delegated to (and signed by) the new targets keys.
  const binSigners =
    force.targets === true
      ? topTargetsSigners(state, ring).signers
      : signersFor('bins', state.bins, ring.targets);
  for (const bin of state.bins.getRoles()) {
    const md = await readBin(dir, state, bin);
    if (force.targets !== true && !needsRefresh(opts, 'targets', md.signed.expires)) continue;
    const next = buildBin(md.signed.version + 1, md.signed.targets, opts);
    bins.set(bin, await writeRole(dir, bin, await signMetadata(next, binSigners), written));
  }
  const targets = await maybeResignTargets(dir, state, ring, force.targets === true, opts, written);
  const snapshotDue =
    bins.size > 0 ||
    targets !== undefined ||
    force.snapshot === true ||
    needsRefresh(opts, 'snapshot', state.snapshot.signed.expires);
  if (snapshotDue) {
    return commitSnapshot(
      dir,
      state,
      ring,
      { bins, targets },
      catalogVersionOf(state.snapshot),
      opts,
      written,
    );
  }
  if (force.timestamp === true || needsRefresh(opts, 'timestamp', state.timestamp.signed.expires)) {
    const timestamp = await writeTimestamp(
      dir,
      state,
      ring,
      state.timestamp.signed.snapshotMeta,
      opts,
    );
    written.push('timestamp.json');
    return {
      ...summary(state, catalogVersionOf(state.snapshot), written),
      timestampVersion: timestamp,
    };
  }
  return summary(state, catalogVersionOf(state.snapshot), written);
}

export async function create(
  dir: MetadataIO,
  ring: Keyring,
  adds: TargetFile[],
  catalogVersion: number | undefined,
  opts: ResolvedOptions,
): Promise<RepoSummary> {
  const written: string[] = [];
  const root = await writeRoot(dir, buildRoot(ring, 1, opts), ring.root.signers);
  written.push('1.root.json', 'root.json');
  const { signers, threshold } = ring.targets;
  const topTargets = await signMetadata(
    buildTopTargets(signers, threshold, opts.binBits, 1, opts),
    signers,
  );
  const binRoles = topTargets.signed.delegations?.succinctRoles as SuccinctRoles;
  const byBin = groupByBin(binRoles, adds, (t) => t.path);
  const meta: Record<string, MetaFile> = {};
  for (const bin of binRoles.getRoles()) {
    const targets = Object.fromEntries((byBin.get(bin) ?? []).map((t) => [t.path, t]));
    const md = await signMetadata(buildBin(1, targets, opts), signers);
    meta[`${bin}.json`] = metaFile(await writeRole(dir, bin, md, written));
  }
  meta['targets.json'] = metaFile(await writeRole(dir, 'targets', topTargets, written));
  const snapshot = await writeSnapshot(dir, ring.snapshot.signers, 1, meta, catalogVersion, opts);
  written.push('1.snapshot.json');
  const timestamp = await signMetadata(
    new Timestamp({
      version: 1,
      specVersion: SPEC_VERSION,
      expires: expiresAt(opts, 'timestamp'),
      snapshotMeta: snapshot,
    }),
    ring.timestamp.signers,
  );
  await writeMetadata(dir, 'timestamp.json', metadataBytes(timestamp));
  written.push('timestamp.json');
  return {
    rootVersion: root.signed.version,
    targetsVersion: 1,
    snapshotVersion: 1,
    timestampVersion: 1,
    catalogVersion,
    binCount: binRoles.numberOfBins,
    written,
  };
}

/** Re-signs each bin that holds a changed target, at its next version. */
export async function rewriteBins(
  dir: string | MetadataIO,
  state: RepoState,
  ring: Keyring,
  adds: TargetFile[],
  removes: string[],
  opts: ResolvedOptions,
  written: string[],
): Promise<Map<string, Written>> {
  const signers = signersFor('bins', state.bins, ring.targets);
  const addsByBin = groupByBin(state.bins, adds, (t) => t.path);
  const removesByBin = groupByBin(state.bins, removes, (n) => n);
  const out = new Map<string, Written>();
  for (const bin of new Set([...addsByBin.keys(), ...removesByBin.keys()])) {
    const current = await readBin(dir, state, bin);
    const targets: Record<string, TargetFile> = { ...current.signed.targets };
    for (const name of removesByBin.get(bin) ?? []) delete targets[name];
    for (const t of addsByBin.get(bin) ?? []) targets[t.path] = t;
    if (sameTargets(current.signed, targets)) continue;
    const md = await signMetadata(buildBin(current.signed.version + 1, targets, opts), signers);
    out.set(bin, await writeRole(dir, bin, md, written));
  }
  return out;
}

/** targets.json changes only when it nears expiry or its keys change (rotation). */
export async function maybeResignTargets(
  dir: string | MetadataIO,
  state: RepoState,
  ring: Keyring,
  force: boolean,
  opts: ResolvedOptions,
  written: string[],
): Promise<Written | undefined> {
  const current = state.targets.signed;
  if (!force && !needsRefresh(opts, 'targets', current.expires)) return undefined;
  const { signers, named } = topTargetsSigners(state, ring);
  const next = buildTopTargets(
    signers,
    named.threshold,
    state.bins.bitLength,
    current.version + 1,
    opts,
  );
  return writeRole(dir, 'targets', await signMetadata(next, signers), written);
}

/** The targets keys that root names: they sign targets.json, which delegates the bins to them. */
function topTargetsSigners(
  state: RepoState,
  ring: Keyring,
): { signers: Signer[]; named: { keyIDs: string[]; threshold: number } } {
  const named = state.root.signed.roles['targets'];
  if (named === undefined) throw new UpcatError('integrity', 'root names no targets role');
  return { signers: signersFor('targets', named, ring.targets), named };
}

/** Snapshot N+1 with the new bin and targets versions, then timestamp N+1 (spec §4.4, §4.6). */
export async function commitSnapshot(
  dir: string | MetadataIO,
  state: RepoState,
  ring: Keyring,
  changed: { bins: Map<string, Written>; targets: Written | undefined },
  catalogVersion: number | undefined,
  opts: ResolvedOptions,
  written: string[],
): Promise<RepoSummary> {
  const meta: Record<string, MetaFile> = { ...state.snapshot.signed.meta };
  for (const [bin, w] of changed.bins) meta[`${bin}.json`] = metaFile(w);
  if (changed.targets !== undefined) meta['targets.json'] = metaFile(changed.targets);
  const version = state.snapshot.signed.version + 1;
  const named = state.root.signed.roles['snapshot'];
  if (named === undefined) throw new UpcatError('integrity', 'root names no snapshot role');
  const signers = signersFor('snapshot', named, ring.snapshot);
  const snapshotMeta = await writeSnapshot(dir, signers, version, meta, catalogVersion, opts);
  written.push(`${version}.snapshot.json`);
  const timestampVersion = await writeTimestamp(dir, state, ring, snapshotMeta, opts);
  written.push('timestamp.json');
  return {
    rootVersion: state.root.signed.version,
    targetsVersion: changed.targets?.version ?? metaVersion(state.snapshot, 'targets'),
    snapshotVersion: version,
    timestampVersion,
    catalogVersion,
    binCount: state.bins.numberOfBins,
    written,
  };
}

function sameTargets(current: Targets, next: Record<string, TargetFile>): boolean {
  const names = Object.keys(next);
  return (
    names.length === Object.keys(current.targets).length &&
    names.every((n) => current.targets[n]?.equals(next[n] as TargetFile) === true)
  );
}

function summary(
  state: RepoState,
  catalogVersion: number | undefined,
  written: string[],
): RepoSummary {
  return {
    rootVersion: state.root.signed.version,
    targetsVersion: metaVersion(state.snapshot, 'targets'),
    snapshotVersion: state.snapshot.signed.version,
    timestampVersion: state.timestamp.signed.version,
    catalogVersion,
    binCount: state.bins.numberOfBins,
    written,
  };
}

/** The repository's current versions, or undefined when none was written yet. */
export async function readRepository(dir: string | MetadataIO): Promise<RepoSummary | undefined> {
  const state = await readState(dir);
  return state === undefined ? undefined : summary(state, catalogVersionOf(state.snapshot), []);
}

/** Where a site keeps its TUF repository: catalog/tuf/ (served under /tuf/). */
export function tufRepoDir(catalogDir: string): string {
  return path.join(catalogDir, 'tuf');
}
