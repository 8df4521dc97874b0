import type { Knex } from 'knex';
import { noteChange } from '../storage/changes.js';

/** Row-level access to the site's client tables; functions take knex or a transaction. */
export type Q = Knex | Knex.Transaction;

export type Approval = 'approved' | 'pending';
export type RecordState = 'active' | 'conflict' | 'obsolete';

export interface ClientRow {
  client_id: string;
  hardware_id: string;
  name: string;
  os: string;
  architecture: string;
  client_version: string;
  secret_hash: string | null;
  approval: Approval;
  blocked: boolean;
  record_state: RecordState;
  replaced_by: string | null;
  created_at: string;
  last_contact: string | null;
  policy_epoch: number;
  trusted: boolean;
  conflict_with: string | null;
  cloned_from: string | null;
  clone_suspected: boolean;
  /** Native mode: the certificate request sent at registration, kept until approval issues it. */
  csr_pem?: string | null;
  /** The catalog version read in the same statement (authentication), so a sync needs no second query. */
  catalog_version?: number;
}

export const ALL_COMPUTERS = 'All Computers';
export const UNASSIGNED = 'Unassigned';

/** SQLite returns booleans as 0/1 and PostgreSQL may return integers as strings. */
export function normalizeClient(row: Record<string, unknown>): ClientRow {
  const r = row as unknown as ClientRow;
  return {
    ...r,
    blocked: Boolean(r.blocked),
    trusted: Boolean(r.trusted),
    clone_suspected: Boolean(r.clone_suspected),
    policy_epoch: Number(r.policy_epoch),
    ...(r.catalog_version === undefined || r.catalog_version === null
      ? {}
      : { catalog_version: Number(r.catalog_version) }),
  };
}

/**
 * A client by ID with the current catalog version, in one statement: the hot path of every
 * authenticated request (a sync with nothing new then costs this one query, on one snapshot).
 */
export async function findClientForRequest(q: Q, clientId: string): Promise<ClientRow | undefined> {
  const row = (await q('clients')
    .where({ client_id: clientId })
    .first('clients.*', catalogVersionColumn(q))) as Record<string, unknown> | undefined;
  return row === undefined ? undefined : normalizeClient(row);
}

/** `(select version from catalog_state where id = 1) as catalog_version`, to add to a select. */
export function catalogVersionColumn(q: Q): Knex.QueryBuilder {
  return q('catalog_state').where({ id: 1 }).select('version').as('catalog_version');
}

export async function findClient(q: Q, clientId: string): Promise<ClientRow | undefined> {
  const row = (await q('clients').where({ client_id: clientId }).first()) as
    Record<string, unknown> | undefined;
  return row === undefined ? undefined : normalizeClient(row);
}

export async function clientsByHardware(q: Q, hardwareId: string): Promise<ClientRow[]> {
  const rows = (await q('clients')
    .where({ hardware_id: hardwareId })
    .orderBy('created_at')) as Array<Record<string, unknown>>;
  return rows.map(normalizeClient);
}

/** Moves a client's policy epoch: its next sync is a full one (approval, blocking, groups). */
export async function bumpEpoch(q: Q, clientIds: readonly string[]): Promise<void> {
  if (clientIds.length === 0) return;
  await q('clients')
    .whereIn('client_id', [...clientIds])
    .increment('policy_epoch', 1);
  noteChange(q);
}

export async function groupIdByName(q: Q, name: string): Promise<number | undefined> {
  const row = (await q('groups').where({ name }).first('id')) as { id: number } | undefined;
  return row === undefined ? undefined : Number(row.id);
}

/** Named (non-builtin) groups of each client, by client ID. */
export async function groupsOf(q: Q, clientIds: readonly string[]): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  if (clientIds.length === 0) return out;
  // Chunked so that a listing of every client stays under the databases' parameter limits.
  for (let i = 0; i < clientIds.length; i += 500) {
    const rows = (await q('client_groups as cg')
      .join('groups as g', 'g.id', 'cg.group_id')
      .whereIn('cg.client_id', clientIds.slice(i, i + 500))
      .orderBy('g.name')
      .select('cg.client_id', 'g.name')) as Array<{ client_id: string; name: string }>;
    for (const r of rows)
      (out.get(r.client_id) ?? out.set(r.client_id, []).get(r.client_id))?.push(r.name);
  }
  return out;
}

/**
 * Serializes writers of one key (a hardware ID) for the rest of the transaction. PostgreSQL: a
 * transaction-scoped advisory lock, so registrations of other machines run in parallel. SQLite:
 * a no-op write takes the database write lock up front (it has only one writer anyway), so a
 * read-then-write never fails on a lock upgrade.
 */
export async function lockKey(trx: Knex.Transaction, key: string): Promise<void> {
  if ((trx.client.config.client as string) === 'pg') {
    await trx.raw('select pg_advisory_xact_lock(hashtext(?))', [`upcat:${key}`]);
  } else {
    await trx('catalog_state')
      .where({ id: 1 })
      .update({ version: trx.raw('version') });
  }
}
