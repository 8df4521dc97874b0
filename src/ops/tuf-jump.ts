import { type MetaFile, Timestamp } from '@tufjs/models';
import { UpcatError } from '../errors.js';
import type { Keyring } from '../signing/roles.js';
import type { DesiredCatalog } from '../signing/tuf-advance.js';
import { buildBin, buildTopTargets, groupByBin, type SuccinctRoles } from '../signing/tuf-bins.js';
import {
  expiresAt,
  metadataBytes,
  resolveOptions,
  signersFor,
  signMetadata,
  writeMetadata,
  type RepoOptions,
} from '../signing/tuf-metadata.js';
import { SPEC_VERSION, buildRoot, readRoot, writeRoot } from '../signing/tuf-root.js';
import { metaFile, writeRole, writeSnapshot } from '../signing/tuf-write.js';
import { toTargetFile } from '../signing/tuf-targets.js';
import { readState } from '../signing/tuf-state.js';
import { storeOf, type RepoRef } from '../signing/tuf-store.js';

/** The highest version of each kind of metadata found in a repository (folder or rows). */
export interface TufVersions {
  root: number;
  timestamp: number;
  snapshot: number;
  targets: number;
  /** The highest version of any bin. */
  bins: number;
  /** The catalog version the current snapshot records. */
  catalogVersion: number;
}

const VERSIONED = /^([1-9][0-9]*)\.(root|targets|snapshot|bins-[0-9a-f]+)\.json$/;

/**
 * Every version present on disk counts, not only the current ones: a file written by a write that
 * never reached timestamp.json may still have been fetched by nobody, but counting it is free.
 */
export async function highestVersions(repo: RepoRef): Promise<TufVersions> {
  const store = storeOf(repo);
  const out: TufVersions = {
    root: 0,
    timestamp: 0,
    snapshot: 0,
    targets: 0,
    bins: 0,
    catalogVersion: 0,
  };
  const names = await store.list();
  if (names.length === 0) return out;
  for (const name of names) {
    const m = VERSIONED.exec(name);
    if (m === null) continue;
    const version = Number(m[1]);
    const role = (m[2] as string).startsWith('bins-')
      ? 'bins'
      : (m[2] as 'root' | 'targets' | 'snapshot');
    out[role] = Math.max(out[role], version);
  }
  const state = await readState(store);
  if (state !== undefined) {
    out.timestamp = state.timestamp.signed.version;
    const cv = state.snapshot.signed.unrecognizedFields['x-upcat-catalog-version'];
    if (typeof cv === 'number') out.catalogVersion = cv;
  }
  return out;
}

/** The one version above every timestamp, snapshot, targets and bin version the backup saw. */
export function jumpBase(v: TufVersions): number {
  return Math.max(v.timestamp, v.snapshot, v.targets, v.bins);
}

/**
 * Re-signs the whole repository at one `version` for every online role: targets.json, every bin,
 * snapshot and timestamp, listing `desired`'s targets. A client that trusted any version below
 * `version` accepts these (TUF spec §5.4.3, §5.5.5, §5.6.3: versions must not go down), so a
 * restored site never rolls its clients back. Root is kept (every N.root.json stays), or
 * written as version 1 when the folder holds none; roots are never re-signed here, so clients'
 * pinned roots and the chain they walk stay valid.
 */
export async function resignAt(
  repo: RepoRef,
  ring: Keyring,
  version: number,
  desired: DesiredCatalog,
  options: RepoOptions = {},
): Promise<void> {
  const opts = resolveOptions(options);
  await storeOf(repo).writing(async (dir) => {
    let root = await readRoot(dir);
    if (root === undefined)
      root = await writeRoot(dir, buildRoot(ring, 1, opts), ring.root.signers);
    // Only the bin layout is taken from the current state; a torn copy must not stop a restore.
    const state = await readState(dir).catch(() => undefined);
    const named = (role: string): { keyIDs: string[]; threshold: number } => {
      const r = root.signed.roles[role];
      if (r === undefined) throw new UpcatError('integrity', `root names no ${role} role`);
      return r;
    };
    const targetsSigners = signersFor('targets', named('targets'), ring.targets);
    const bitLength = state?.bins.bitLength ?? opts.binBits;
    const top = await signMetadata(
      buildTopTargets(targetsSigners, named('targets').threshold, bitLength, version, opts),
      targetsSigners,
    );
    const written: string[] = [];
    const bins = top.signed.delegations?.succinctRoles as SuccinctRoles;
    const adds = desired.targets.map(toTargetFile);
    const byBin = groupByBin(bins, adds, (t) => t.path);
    const meta: Record<string, MetaFile> = {};
    for (const bin of bins.getRoles()) {
      const targets = Object.fromEntries((byBin.get(bin) ?? []).map((t) => [t.path, t]));
      const md = await signMetadata(buildBin(version, targets, opts), targetsSigners);
      meta[`${bin}.json`] = metaFile(await writeRole(dir, bin, md, written));
    }
    meta['targets.json'] = metaFile(await writeRole(dir, 'targets', top, written));
    const snapshotSigners = signersFor('snapshot', named('snapshot'), ring.snapshot);
    const snapshotMeta = await writeSnapshot(
      dir,
      snapshotSigners,
      version,
      meta,
      desired.catalogVersion,
      opts,
    );
    const timestamp = await signMetadata(
      new Timestamp({
        version,
        specVersion: SPEC_VERSION,
        expires: expiresAt(opts, 'timestamp'),
        snapshotMeta,
      }),
      signersFor('timestamp', named('timestamp'), ring.timestamp),
    );
    // Last (by rename, or in the same transaction): what makes the new version visible.
    await writeMetadata(dir, 'timestamp.json', metadataBytes(timestamp));
  });
}
