/**
 * Supersedence, prerequisites and bundles of vendor packages. Vendors list a package's whole history,
 * so most references name packages the site does not have (yet). Those are kept in
 * `pending_references` (migration 010) and become `relationships` rows when the named update
 * arrives, in the transaction that brings it; a superseded update that arrives after its
 * successor is marked superseded at once, so it is never offered.
 */
import type { Knex } from 'knex';
import { findUpdates } from '../../storage/catalog-repo.js';
import type { VendorPackage } from './vendor-package.js';

type Trx = Knex.Transaction;

interface Reference {
  kind: 'supersedes' | 'prerequisite' | 'bundles';
  group_index: number;
  target_update_id: string;
}

/** Stores the revision's references: known targets as relationships, the rest as pending. */
export async function storeReferences(
  trx: Trx,
  pkg: VendorPackage,
  revisionId: number,
): Promise<string[]> {
  const refs: Reference[] = [
    ...pkg.manifest.prerequisites.flatMap((group, index) =>
      group.map((id) => ({
        kind: 'prerequisite' as const,
        group_index: index,
        target_update_id: id,
      })),
    ),
    ...pkg.manifest.supersedes.map((id) => ({
      kind: 'supersedes' as const,
      group_index: 0,
      target_update_id: id,
    })),
    ...pkg.bundles.map((id) => ({
      kind: 'bundles' as const,
      group_index: 0,
      target_update_id: id,
    })),
  ];
  if (refs.length === 0) return [];
  const known = new Set<string>();
  const ids = [...new Set(refs.map((r) => r.target_update_id))];
  // In slices: PostgreSQL and SQLite both cap bound parameters, and BIOS packages list ~400.
  for (let i = 0; i < ids.length; i += 500) {
    for (const u of await findUpdates(trx, ids.slice(i, i + 500))) known.add(u.update_id);
  }
  const resolved = refs.filter((r) => known.has(r.target_update_id));
  const pending = refs.filter((r) => !known.has(r.target_update_id));
  await insertChunked(
    trx,
    'relationships',
    resolved.map((r) => ({ ...r, revision_id: revisionId })),
  );
  await insertChunked(
    trx,
    'pending_references',
    pending.map((r) => ({ ...r, revision_id: revisionId, update_id: pkg.updateId })),
  );
  const superseded = resolved.filter((r) => r.kind === 'supersedes').map((r) => r.target_update_id);
  for (let i = 0; i < superseded.length; i += 500) {
    await trx('updates')
      .whereIn('update_id', superseded.slice(i, i + 500))
      .update({ superseded_by: pkg.updateId });
  }
  return [...new Set(pending.map((r) => r.target_update_id))];
}

/**
 * A new update arrived: references that named it become relationships, and when an active
 * update supersedes it, it is marked superseded by that update.
 */
export async function resolvePendingFor(trx: Trx, updateId: string): Promise<void> {
  const rows = (await trx('pending_references')
    .where({ target_update_id: updateId })
    .orderBy('id')
    .select('id', 'revision_id', 'update_id', 'kind', 'group_index')) as Array<{
    id: number;
    revision_id: number;
    update_id: string;
    kind: Reference['kind'];
    group_index: number;
  }>;
  if (rows.length === 0) return;
  await insertChunked(
    trx,
    'relationships',
    rows.map((r) => ({
      revision_id: r.revision_id,
      kind: r.kind,
      group_index: r.group_index,
      target_update_id: updateId,
    })),
  );
  await trx('pending_references').where({ target_update_id: updateId }).delete();
  const successors = [
    ...new Set(rows.filter((r) => r.kind === 'supersedes').map((r) => r.update_id)),
  ];
  const active = (await findUpdates(trx, successors)).filter((u) => u.state === 'active');
  const successor = active[0];
  if (successor !== undefined) {
    await trx('updates')
      .where({ update_id: updateId })
      .update({ superseded_by: successor.update_id });
  }
}

/** Unresolved references of an update's latest revision, for reports. */
export async function pendingOf(q: Knex, revisionId: number): Promise<Reference[]> {
  return (await q('pending_references')
    .where({ revision_id: revisionId })
    .orderBy('id')
    .select('kind', 'group_index', 'target_update_id')) as Reference[];
}

async function insertChunked(trx: Trx, table: string, rows: object[]): Promise<void> {
  // 100 rows of at most 5 columns stay under SQLite's 999 bound parameters.
  for (let i = 0; i < rows.length; i += 100) await trx(table).insert(rows.slice(i, i + 100));
}
