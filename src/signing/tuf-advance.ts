import type { TargetFile } from '@tufjs/models';
import type { Keyring } from './roles.js';
import { resolveOptions, type RepoOptions } from './tuf-metadata.js';
import {
  commitSnapshot,
  create,
  maybeResignTargets,
  rewriteBins,
  type RepoSummary,
} from './tuf-repo.js';
import { catalogVersionOf, listTargets, readState } from './tuf-state.js';
import { toTargetFile, type TargetChanges, type TargetInput } from './tuf-targets.js';
import { storeOf, type RepoRef } from './tuf-store.js';

/** The whole target set of one catalog version, read from the database in one snapshot. */
export interface DesiredCatalog {
  catalogVersion: number;
  targets: readonly TargetInput[];
}

/**
 * Brings the TUF repository to `catalogVersion`, as its only writer (tuf-store.ts). When the repository
 * is exactly one catalog version behind and the caller knows what changed, only those targets'
 * bins are re-signed; otherwise (a crash between commit and signing, or another process's
 * publish landing in between) the full target set is read with `desired()` and diffed against
 * the repository. A repository already at or past the version is left alone, so every caller
 * may call this after its commit, in any order, and the newest catalog version wins.
 */
export async function advanceRepository(
  repo: RepoRef,
  ring: Keyring,
  catalogVersion: number,
  changes: TargetChanges | undefined,
  desired: () => Promise<DesiredCatalog>,
  options: RepoOptions = {},
): Promise<RepoSummary | undefined> {
  const opts = resolveOptions(options);
  return storeOf(repo).writing(async (dir) => {
    const state = await readState(dir);
    if (state === undefined) {
      const all = await desired();
      return create(dir, ring, all.targets.map(toTargetFile), all.catalogVersion, opts);
    }
    const recorded = catalogVersionOf(state.snapshot) ?? 0;
    if (recorded >= catalogVersion) return undefined;

    let adds: TargetFile[];
    let removes: string[];
    let version = catalogVersion;
    if (changes !== undefined && recorded === catalogVersion - 1) {
      adds = (changes.add ?? []).map(toTargetFile);
      removes = [...(changes.remove ?? [])];
    } else {
      const all = await desired();
      if (all.catalogVersion <= recorded) return undefined;
      version = all.catalogVersion;
      const current = await listTargets(dir);
      const wanted = new Map(all.targets.map((t) => [t.name, toTargetFile(t)]));
      adds = [...wanted.values()].filter((t) => current.get(t.path)?.equals(t) !== true);
      removes = [...current.keys()].filter((name) => !wanted.has(name));
    }
    const written: string[] = [];
    const bins = await rewriteBins(dir, state, ring, adds, removes, opts, written);
    const targets = await maybeResignTargets(dir, state, ring, false, opts, written);
    return commitSnapshot(dir, state, ring, { bins, targets }, version, opts, written);
  });
}
