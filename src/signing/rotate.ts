import { UpcatError } from '../errors.js';
import { addRoleKeys, loadKeyring, retireKeys, type KeyInfo } from './key-store.js';
import type { Keyring, TopRole } from './roles.js';
import { assertNever, type KeyKind } from './signer.js';
import { resolveOptions, signersFor, type RepoOptions } from './tuf-metadata.js';
import { refreshUnlocked, type RepoSummary } from './tuf-repo.js';
import { buildRoot, writeRoot } from './tuf-root.js';
import { readState } from './tuf-state.js';
import { storeOf, type RepoRef } from './tuf-store.js';

export interface RotateOptions extends RepoOptions {
  keyKind?: KeyKind;
  /** New number of keys for the role (default: as many as it has). */
  keyCount?: number;
  /** New threshold for the role (default: unchanged). */
  threshold?: number;
}

export interface RotateResult {
  role: TopRole;
  retired: string[];
  created: KeyInfo[];
  /** The repository after the rotation; undefined when no repository was written yet. */
  repository: RepoSummary | undefined;
}

/**
 * `upcat keys rotate <role>` (TUF spec §6.1, key management): new keys for `role`, then root
 * version N+1 listing them, signed by a threshold of the old root keys (so a client trusting
 * root N accepts it, spec §5.3.4) and by the new root keys (spec §5.3.5). Then the role's own
 * metadata is re-signed with the new keys: a timestamp rotation writes a new timestamp (clients
 * drop a fast-forwarded timestamp signed by the old key, spec §5.3.11), a snapshot rotation a new
 * snapshot and timestamp, a targets rotation targets, every bin, snapshot and timestamp.
 * Old keys move to retired/ only once all of that is written.
 */
export async function rotateKey(
  signingDir: string,
  repo: RepoRef,
  role: TopRole,
  options: RotateOptions = {},
): Promise<RotateResult> {
  const opts = resolveOptions(options);
  return storeOf(repo).writing(async (repoDir) => {
    const before = await loadKeyring(signingDir);
    const old = before[role].signers;
    const count = options.keyCount ?? old.length;
    const threshold = options.threshold ?? before[role].threshold;
    if (count < threshold) {
      throw new UpcatError(
        'invalid_input',
        `${role} would have ${count} keys for a threshold of ${threshold}`,
      );
    }
    const added = await addRoleKeys(signingDir, role, count, {
      keyKind: options.keyKind,
      threshold: options.threshold,
      now: options.now,
    });
    const ring: Keyring = { ...before, [role]: { threshold, signers: added.signers } };
    const state = await readState(repoDir);
    let repository: RepoSummary | undefined;
    if (state !== undefined) {
      const trustedRoot = state.root.signed.roles['root'];
      if (trustedRoot === undefined) throw new UpcatError('integrity', 'root names no root role');
      const oldRootSigners = signersFor('root', trustedRoot, before.root);
      const root = buildRoot(ring, state.root.signed.version + 1, opts);
      await writeRoot(repoDir, root, [...oldRootSigners, ...ring.root.signers]);
      repository = await refreshUnlocked(repoDir, ring, opts, resignAfter(role));
    }
    await retireKeys(
      signingDir,
      old.map((s) => s.key.keyid),
    );
    return { role, retired: old.map((s) => s.key.keyid), created: added.created, repository };
  });
}

/** Which metadata the rotated role signs, and so must be signed again with its new keys. */
function resignAfter(role: TopRole): {
  targets?: boolean;
  snapshot?: boolean;
  timestamp?: boolean;
} {
  switch (role) {
    case 'root':
      return {};
    case 'timestamp':
      return { timestamp: true };
    case 'snapshot':
      return { snapshot: true };
    case 'targets':
      return { targets: true };
    default:
      return assertNever(role);
  }
}
