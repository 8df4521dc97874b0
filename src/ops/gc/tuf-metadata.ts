import { readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { readState, metaVersion } from '../../signing/tuf-state.js';
import { DatabaseMetadataStore } from '../../signing/tuf-store-db.js';
import { FileMetadataStore, type MetadataStore } from '../../signing/tuf-store.js';
import type { Freed } from './freed.js';

const VERSIONED = /^([1-9][0-9]*)\.(targets|snapshot|bins-[0-9a-f]+)\.json$/;

/**
 * Old versioned TUF metadata (issue 13 item 3). Kept: every root (`N.root.json` and `root.json`:
 * a client pinned to any old root walks the chain from it, TUF spec §5.3), `timestamp.json`, the
 * snapshot it names, the targets and bins that snapshot names, every version newer than those
 * (a write in progress), and an old version whose successor is younger than `graceMs` (a client
 * that read the previous timestamp a moment ago still fetches the snapshot, targets and bins it
 * named). Everything else is an older version of targets, snapshot or a bin: no client can need
 * it, since a client only ever fetches the versions the current snapshot names (§5.5, §5.6).
 * Versions only grow, so a file judged old here stays old; deleting outside the repository lock
 * is safe. With the database store (issue 15 item 2) the same rule applies to rows, a row's
 * creation time standing for a file's mtime.
 */
export async function collectMetadata(
  repo: string | MetadataStore,
  graceMs: number,
  now: number,
  dryRun: boolean,
): Promise<Freed> {
  const freed: Freed = { files: 0, bytes: 0 };
  const store = typeof repo === 'string' ? new FileMetadataStore(repo) : repo;
  const state = await readState(store);
  if (state === undefined) return freed;
  const current = new Map<string, number>([['snapshot', state.snapshot.signed.version]]);
  for (const name of Object.keys(state.snapshot.signed.meta)) {
    const role = name.replace(/\.json$/, '');
    current.set(role, metaVersion(state.snapshot, role));
  }
  const byRole = new Map<string, number[]>();
  const listing =
    store instanceof DatabaseMetadataStore ? await store.describe() : await describeFiles(store);
  for (const name of listing.keys()) {
    const m = VERSIONED.exec(name);
    if (m === null) continue;
    const role = m[2] as string;
    const list = byRole.get(role) ?? [];
    list.push(Number(m[1]));
    byRole.set(role, list);
  }
  for (const [role, versions] of byRole) {
    const keep = current.get(role);
    if (keep === undefined) continue; // a role the current snapshot does not name: leave it
    versions.sort((a, b) => a - b);
    for (let i = 0; i < versions.length; i++) {
      const version = versions[i] as number;
      if (version >= keep) break;
      const successor = versions[i + 1] as number;
      const replacedAt = listing.get(`${successor}.${role}.json`)?.at ?? now;
      if (now - replacedAt < graceMs) continue;
      const name = `${version}.${role}.json`;
      const size = listing.get(name)?.size;
      if (size === undefined) continue;
      if (!dryRun) await remove(store, name);
      freed.files += 1;
      freed.bytes += size;
    }
  }
  return freed;
}

/** The versioned files of catalog/tuf/ with their mtimes and sizes. */
async function describeFiles(
  store: MetadataStore,
): Promise<Map<string, { at: number; size: number }>> {
  const dir = (store as FileMetadataStore).dir;
  const out = new Map<string, { at: number; size: number }>();
  for (const name of await readdir(dir)) {
    if (!VERSIONED.test(name)) continue;
    const st = await stat(path.join(dir, name)).catch(() => undefined);
    if (st !== undefined) out.set(name, { at: st.mtimeMs, size: st.size });
  }
  return out;
}

async function remove(store: MetadataStore, name: string): Promise<void> {
  if (store instanceof DatabaseMetadataStore) await store.remove(name);
  else await rm(path.join((store as FileMetadataStore).dir, name), { force: true });
}
