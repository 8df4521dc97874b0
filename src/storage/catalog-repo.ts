import { AsyncLocalStorage } from 'node:async_hooks';
import type { Knex } from 'knex';
import { noteChange } from './changes.js';

/**
 * Row-level access to the catalog tables. Functions take a knex instance or transaction so that
 * services compose them into one all-or-nothing unit of work.
 */
type Q = Knex | Knex.Transaction;

export interface UpdateRow {
  update_id: string;
  product: string;
  classification: string;
  state: 'active' | 'expired' | 'declined';
  superseded_by: string | null;
  created_at: string;
  expired_at: string | null;
  latest_revision: number;
}

export interface RevisionRow {
  id: number;
  update_id: string;
  revision_number: number;
  title: string;
  description: string;
  product: string;
  classification: string;
  version: string;
  handler: string;
  is_installed: string | null;
  is_installable: string | null;
  content_key: string;
  catalog_version: number;
  created_at: string;
}

export interface FileRow {
  id: number;
  revision_id: number;
  name: string;
  sha256: string;
  sha1: string;
  size: number;
  kind: 'file' | 'package';
}

export interface RelationshipRow {
  revision_id: number;
  kind: 'prerequisite' | 'supersedes' | 'bundles';
  group_index: number;
  target_update_id: string;
}

export const now = (): string => new Date().toISOString();

/**
 * Takes the catalog write lock: a no-op write to the single catalog_state row. On PostgreSQL it
 * row-locks, serializing publishers across nodes; on SQLite it takes the write lock up front so
 * that a later write never fails on a lock upgrade.
 */
export async function lockCatalog(q: Q): Promise<void> {
  await q('catalog_state')
    .where({ id: 1 })
    .update({ version: q.raw('version') });
}

export async function currentCatalogVersion(q: Q): Promise<number> {
  const row = (await q('catalog_state').where({ id: 1 }).first('version')) as
    { version: number | string } | undefined;
  return Number(row?.version ?? 0);
}

/** Moves the catalog to its next version; call inside the transaction that made the change. */
export async function nextCatalogVersion(
  q: Q,
  entry: { reason: string; updateId?: string; revision?: number; actor: string },
): Promise<number> {
  await q('catalog_state').where({ id: 1 }).increment('version', 1);
  noteChange(q);
  const version = await currentCatalogVersion(q);
  await q('catalog_versions').insert({
    version,
    reason: entry.reason,
    update_id: entry.updateId ?? null,
    revision_number: entry.revision ?? null,
    actor: entry.actor,
    created_at: now(),
  });
  return version;
}

export async function findUpdate(q: Q, updateId: string): Promise<UpdateRow | undefined> {
  return (await q('updates').where({ update_id: updateId }).first()) as UpdateRow | undefined;
}

export async function findUpdates(q: Q, updateIds: readonly string[]): Promise<UpdateRow[]> {
  if (updateIds.length === 0) return [];
  return (await q('updates').whereIn('update_id', [...updateIds])) as UpdateRow[];
}

export async function findRevision(
  q: Q,
  updateId: string,
  revision: number,
): Promise<RevisionRow | undefined> {
  return (await q('revisions')
    .where({ update_id: updateId, revision_number: revision })
    .first()) as RevisionRow | undefined;
}

export async function latestRevision(q: Q, updateId: string): Promise<RevisionRow | undefined> {
  return (await q('revisions')
    .where({ update_id: updateId })
    .orderBy('revision_number', 'desc')
    .first()) as RevisionRow | undefined;
}

/** The newest revision, in any update, that carries this product and version. */
export async function findByProductVersion(
  q: Q,
  product: string,
  version: string,
): Promise<RevisionRow | undefined> {
  return (await q('revisions').where({ product, version }).orderBy('id', 'desc').first()) as
    RevisionRow | undefined;
}

export async function filesOf(q: Q, revisionId: number): Promise<FileRow[]> {
  const rows = (await q('files').where({ revision_id: revisionId }).orderBy('id')) as FileRow[];
  return rows.map((r) => ({ ...r, size: Number(r.size) }));
}

export async function relationshipsOf(q: Q, revisionId: number): Promise<RelationshipRow[]> {
  return (await q('relationships')
    .where({ revision_id: revisionId })
    .orderBy('id')
    .select('revision_id', 'kind', 'group_index', 'target_update_id')) as RelationshipRow[];
}

/** Targets of one relationship kind in the latest revision of each given update. */
export async function latestTargets(
  q: Q,
  updateIds: readonly string[],
  kind: RelationshipRow['kind'],
): Promise<Array<{ update_id: string; target_update_id: string }>> {
  if (updateIds.length === 0) return [];
  return (await q('relationships as rel')
    .join('revisions as r', 'r.id', 'rel.revision_id')
    .join('updates as u', function joinLatest() {
      this.on('u.update_id', '=', 'r.update_id').andOn(
        'u.latest_revision',
        '=',
        'r.revision_number',
      );
    })
    .whereIn('r.update_id', [...updateIds])
    .andWhere('rel.kind', kind)
    .select('r.update_id', 'rel.target_update_id')) as Array<{
    update_id: string;
    target_update_id: string;
  }>;
}

export async function blobExists(q: Q, sha256: string): Promise<boolean> {
  return (await q('blobs').where({ sha256 }).first('sha256')) !== undefined;
}

export async function insertBlob(
  q: Q,
  blob: { sha256: string; sha1: string; size: number },
): Promise<void> {
  if (await blobExists(q, blob.sha256)) return;
  await q('blobs').insert({
    sha256: blob.sha256,
    sha1: blob.sha1,
    size: blob.size,
    created_at: now(),
  });
}

export async function listBlobs(q: Q): Promise<Array<{ sha256: string; size: number }>> {
  const rows = (await q('blobs').select('sha256', 'size').orderBy('sha256')) as Array<{
    sha256: string;
    size: number | string;
  }>;
  return rows.map((r) => ({ sha256: r.sha256, size: Number(r.size) }));
}

/**
 * Where the change being made comes from: the caller's address for an HTTP request (set by
 * server/middleware/audit-source.ts), `cli` for a local command (cli/context.ts). Carried by
 * async context so that services need not pass it through every signature.
 */
export const auditSource = new AsyncLocalStorage<string>();

/**
 * The API token a request authenticated with (server/middleware/token-auth.ts). Its id goes in
 * the audit row beside the readable `token:<name>` actor, since a name can be reused once its
 * token is revoked. Only rows whose actor is that token's get it.
 */
export const auditToken = new AsyncLocalStorage<{ id: string; actor: string }>();

export async function audit(
  q: Q,
  entry: { actor: string; action: string; target?: string; detail?: unknown; source?: string },
): Promise<void> {
  const token = auditToken.getStore();
  await q('audit_log').insert({
    token_id: token !== undefined && token.actor === entry.actor ? token.id : null,
    at: now(),
    actor: entry.actor,
    action: entry.action,
    target: entry.target ?? null,
    detail: entry.detail === undefined ? null : JSON.stringify(entry.detail),
    source: (entry.source ?? auditSource.getStore() ?? null)?.slice(0, 64) ?? null,
  });
}
