import { Metadata, MetadataKind, type Root } from '@tufjs/models';
import { fetchBounded } from '../verify/enumerate.js';

const MAX_ROOT_BYTES = 1024 * 1024;

type Json = Parameters<typeof Metadata.fromJSON>[1];

export function parseRoot(bytes: Buffer): Metadata<Root> {
  return Metadata.fromJSON(MetadataKind.Root, JSON.parse(bytes.toString('utf8')) as Json);
}

/**
 * The root versions before the one the mirror trusts, which an agent on first use (its trust
 * starts at `/tuf/1.root.json`, docs/AGENT.md "Trust") walks up from. They are fetched from the
 * upstream and kept only when the whole chain verifies into the trusted root (TUF spec §5.3.4:
 * each root signed by a threshold of the previous root's root keys and of its own, versions
 * consecutive), so the mirror never serves a root that does not lead to the one it trusts.
 * `have` holds the versions already checked; the result maps version to bytes, or is a reason.
 */
export async function olderRoots(
  upstream: string,
  trusted: Buffer,
  have: ReadonlyMap<number, Buffer>,
): Promise<Map<number, Buffer> | string> {
  const top = parseRoot(trusted);
  const chain = new Map<number, Buffer>(have);
  chain.set(top.signed.version, trusted);
  for (let v = 1; v < top.signed.version; v++) {
    if (chain.has(v)) continue;
    try {
      chain.set(
        v,
        await fetchBounded(`${upstream}/tuf/${v}.root.json`, MAX_ROOT_BYTES, `root ${v}`),
      );
    } catch (err) {
      return `root ${v}: ${(err as Error).message}`;
    }
  }
  try {
    let previous = parseRoot(chain.get(1) as Buffer);
    if (previous.signed.version !== 1) return `1.root.json says version ${previous.signed.version}`;
    previous.verifyDelegate(MetadataKind.Root, previous);
    for (let v = 2; v <= top.signed.version; v++) {
      const next = parseRoot(chain.get(v) as Buffer);
      if (next.signed.version !== v) return `${v}.root.json says version ${next.signed.version}`;
      previous.verifyDelegate(MetadataKind.Root, next);
      next.verifyDelegate(MetadataKind.Root, next);
      previous = next;
    }
  } catch (err) {
    return `the root chain does not verify: ${(err as Error).message}`;
  }
  return chain;
}
