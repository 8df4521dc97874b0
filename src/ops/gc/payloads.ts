import type { Knex } from 'knex';
import type { BlobStore } from '../../storage/blobs/store.js';
import { currentCatalogVersion, lockCatalog } from '../../storage/catalog-repo.js';
import { writeCatalog } from '../../storage/catalog-writer.js';
import type { Db } from '../../storage/db.js';
import type { Freed } from './freed.js';

/** Pool files deleted per catalog-locked transaction (publishes wait for at most one batch). */
const BATCH = 200;

export interface PayloadsFreed {
  /** Pool files no `blobs` row names (a publish killed between rename and commit). */
  unreferenced: Freed;
  /** Payloads (and documents) only revisions expired or superseded long ago name. */
  retired: Freed;
}

interface RevisionRow {
  id: number;
  update_id: string;
  revision_number: number;
  created_at: string;
  document_sha256: string | null;
}

/**
 * The blobs some revision still needs (issue 13 item 3): every blob named (as a payload file or
 * as its metadata document) by a live revision. A revision is live when it is the latest of an
 * active update (it is in the signed catalog), or when it left the catalog less than
 * `retention.payloadDays` ago: superseded by a newer revision of its update (since that one was
 * created), or its update expired or declined (since `expired_at`). A client only starts a
 * download from a catalog that listed the payload, and such metadata expires within days
 * (signing.expiryDays), so the retention is also the grace for downloads about to start; one
 * already started keeps its open file after the unlink (POSIX).
 */
export async function neededBlobs(
  q: Knex | Knex.Transaction,
  cutoffIso: string,
): Promise<Set<string>> {
  const updates = new Map(
    (
      (await q('updates').select('update_id', 'state', 'latest_revision', 'expired_at')) as Array<{
        update_id: string;
        state: string;
        latest_revision: number;
        expired_at: string | null;
      }>
    ).map((u) => [u.update_id, u]),
  );
  const revisions = (await q('revisions').select(
    'id',
    'update_id',
    'revision_number',
    'created_at',
    'document_sha256',
  )) as RevisionRow[];
  const createdAt = new Map(
    revisions.map((r) => [`${r.update_id}/${r.revision_number}`, r.created_at]),
  );
  const live = new Set<number>();
  const needed = new Set<string>();
  for (const r of revisions) {
    const u = updates.get(r.update_id);
    let goneSince: string | undefined;
    if (u === undefined) goneSince = undefined;
    else if (r.revision_number < u.latest_revision) {
      goneSince = createdAt.get(`${r.update_id}/${r.revision_number + 1}`) ?? r.created_at;
    } else if (u.state !== 'active') goneSince = u.expired_at ?? undefined;
    const isLive = goneSince === undefined || goneSince > cutoffIso;
    if (!isLive) continue;
    live.add(r.id);
    if (r.document_sha256 !== null) needed.add(r.document_sha256);
  }
  const files = (await q('files').select('revision_id', 'sha256')) as Array<{
    revision_id: number;
    sha256: string;
  }>;
  for (const f of files) if (live.has(f.revision_id)) needed.add(f.sha256);
  // A needed payload's MS-WUSP cabinet, a blob of the store too when it is an object store.
  for (const w of await wrappedFiles(q)) if (needed.has(w.source_sha256)) needed.add(w.sha256);
  return needed;
}

function wrappedFiles(
  q: Knex | Knex.Transaction,
): Promise<Array<{ source_sha256: string; sha256: string }>> {
  return q('wusp_content').select('source_sha256', 'sha256');
}

export async function collectPayloads(
  db: Db,
  pool: BlobStore,
  opts: { cutoffIso: string; graceMs: number; now: number; dryRun: boolean },
): Promise<PayloadsFreed> {
  const out: PayloadsFreed = {
    unreferenced: { files: 0, bytes: 0 },
    retired: { files: 0, bytes: 0 },
  };
  const known = new Set(
    ((await db('blobs').select('sha256')) as Array<{ sha256: string }>).map((b) => b.sha256),
  );
  for (const w of await wrappedFiles(db)) known.add(w.sha256);
  let version = await currentCatalogVersion(db);
  let needed = await neededBlobs(db, opts.cutoffIso);
  const candidates: Array<{ sha256: string; kind: keyof PayloadsFreed }> = [];
  // Listed through the port: files of the pool, or objects of the bucket (ListObjectsV2).
  for await (const { sha256, mtimeMs } of pool.list()) {
    if (!known.has(sha256)) {
      // A publish renames its payload into the pool just before its commit; the grace (and the
      // re-check under the catalog lock below) keeps that file.
      if (opts.now - mtimeMs >= opts.graceMs) candidates.push({ sha256, kind: 'unreferenced' });
    } else if (!needed.has(sha256)) candidates.push({ sha256, kind: 'retired' });
  }
  for (let i = 0; i < candidates.length; i += BATCH) {
    const batch = candidates.slice(i, i + BATCH);
    // Under the catalog lock, publishes are held at their lock: none is between renaming a payload
    // into the pool and committing the row that names it, and none can name a blob meanwhile.
    await writeCatalog(db, async (trx) => {
      await lockCatalog(trx);
      const now = await currentCatalogVersion(trx);
      if (now !== version) {
        needed = await neededBlobs(trx, opts.cutoffIso);
        version = now;
      }
      const rows = new Set(
        (
          (await trx('blobs')
            .whereIn(
              'sha256',
              batch.map((c) => c.sha256),
            )
            .select('sha256')) as Array<{
            sha256: string;
          }>
        ).map((b) => b.sha256),
      );
      for (const c of batch) {
        if (c.kind === 'unreferenced' ? rows.has(c.sha256) : needed.has(c.sha256)) continue;
        const size = await removeBlob(pool, c.sha256, opts.dryRun);
        if (size === undefined) continue;
        out[c.kind].files += 1;
        out[c.kind].bytes += size;
      }
    });
  }
  return out;
}

/** Removes a blob and its signature; undefined when it was already gone. */
async function removeBlob(
  pool: BlobStore,
  sha256: string,
  dryRun: boolean,
): Promise<number | undefined> {
  const size = await pool.sizeOf(sha256);
  if (size === undefined) return undefined;
  if (!dryRun) await pool.remove(sha256);
  return size;
}
