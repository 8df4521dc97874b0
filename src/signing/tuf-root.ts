import { Key, MetadataKind, Root, type Metadata } from '@tufjs/models';
import { TOP_ROLES, type Keyring } from './roles.js';
import type { Signer, TufPublicKey } from './signer.js';
import {
  expiresAt,
  metadataBytes,
  readMetadata,
  signMetadata,
  writeMetadata,
  type ResolvedOptions,
} from './tuf-metadata.js';
import type { MetadataIO } from './tuf-store.js';

export const SPEC_VERSION = '1.0.31';

export function tufKey(key: TufPublicKey): Key {
  return new Key({
    keyID: key.keyid,
    keyType: key.keytype,
    scheme: key.scheme,
    keyVal: { ...key.keyval },
  });
}

/**
 * Root metadata listing every role's current keys and threshold (TUF spec §4.3). Consistent
 * snapshots are on: metadata is fetched as N.<role>.json and targets by hash-prefixed name.
 */
export function buildRoot(ring: Keyring, version: number, opts: ResolvedOptions): Root {
  const keys: Record<string, ReturnType<Key['toJSON']>> = {};
  const roles: Record<string, { keyids: string[]; threshold: number }> = {};
  for (const role of TOP_ROLES) {
    const { threshold, signers } = ring[role];
    for (const s of signers) keys[s.key.keyid] = tufKey(s.key).toJSON();
    roles[role] = { keyids: signers.map((s) => s.key.keyid), threshold };
  }
  // Built from its JSON form: @tufjs/models exports Root but not its Role class.
  return Root.fromJSON({
    _type: 'root',
    spec_version: SPEC_VERSION,
    version,
    expires: expiresAt(opts, 'root'),
    keys,
    roles,
    consistent_snapshot: true,
  });
}

/**
 * Signs and writes root version N as N.root.json (what a client walks, TUF spec §5.3.3) and as
 * root.json (the copy a new client is given). `signers` must satisfy both the previous root's
 * root role and the new one (spec §5.3.4 and §5.3.5): on a root rotation, old and new keys.
 */
export async function writeRoot(
  dir: string | MetadataIO,
  root: Root,
  signers: readonly Signer[],
): Promise<Metadata<Root>> {
  const unique = [...new Map(signers.map((s) => [s.key.keyid, s])).values()];
  const md = await signMetadata(root, unique);
  const bytes = metadataBytes(md);
  await writeMetadata(dir, `${root.version}.root.json`, bytes);
  await writeMetadata(dir, 'root.json', bytes);
  return md;
}

export async function readRoot(dir: string | MetadataIO): Promise<Metadata<Root> | undefined> {
  return readMetadata(dir, 'root.json', MetadataKind.Root);
}
