import { Targets, type TargetFile } from '@tufjs/models';
import type { Key } from '@tufjs/models';
import type { Signer } from './signer.js';
import { expiresAt, type ResolvedOptions } from './tuf-metadata.js';
import { SPEC_VERSION, tufKey } from './tuf-root.js';

/** Bin role names are `bins-<hex>` (TAP 15 succinct hashed bins, "name_prefix"). */
export const BIN_PREFIX = 'bins';

/**
 * Top-level targets metadata: it lists no targets itself and delegates every path to 2^bits
 * hashed bins by the leading bits of SHA-256(target path) (TUF spec §4.5 "delegations", TAP 15).
 * Adding one target then re-signs one small bin, not a list of every target; a client that is
 * current downloads timestamp, snapshot and that bin. The bins are signed by the targets keys,
 * which are online (a publish must sign a bin).
 */
export function buildTopTargets(
  signers: readonly Signer[],
  threshold: number,
  bitLength: number,
  version: number,
  opts: ResolvedOptions,
): Targets {
  const keys: Record<string, ReturnType<Key['toJSON']>> = {};
  for (const s of signers) keys[s.key.keyid] = tufKey(s.key).toJSON();
  // Built from its JSON form: @tufjs/models does not export Delegations or SuccinctRoles.
  return Targets.fromJSON({
    _type: 'targets',
    spec_version: SPEC_VERSION,
    version,
    expires: expiresAt(opts, 'targets'),
    targets: {},
    delegations: {
      keys,
      succinct_roles: {
        keyids: signers.map((s) => s.key.keyid),
        threshold,
        bit_length: bitLength,
        name_prefix: BIN_PREFIX,
      },
    },
  });
}

/** One bin: the targets whose path hashes into it. Bins share the targets expiry period. */
export function buildBin(
  version: number,
  targets: Record<string, TargetFile>,
  opts: ResolvedOptions,
): Targets {
  return new Targets({
    version,
    specVersion: SPEC_VERSION,
    expires: expiresAt(opts, 'targets'),
    targets,
  });
}

/** The succinct hashed-bin delegation (TAP 15), whose class @tufjs/models does not export. */
export type SuccinctRoles = NonNullable<NonNullable<Targets['delegations']>['succinctRoles']>;

/** Groups target names by the bin that holds them. */
export function groupByBin<T>(
  bins: SuccinctRoles,
  items: readonly T[],
  nameOf: (item: T) => string,
): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const item of items) {
    const bin = bins.getRoleForTarget(nameOf(item));
    const list = out.get(bin);
    if (list === undefined) out.set(bin, [item]);
    else list.push(item);
  }
  return out;
}
