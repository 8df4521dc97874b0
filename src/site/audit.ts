import { UpcatError } from '../errors.js';
import type { Db } from '../storage/db.js';

/**
 * The audit log (issue 7): one row per change, written by each mutating service inside its own
 * transaction (storage/catalog-repo.ts `audit`). Who: `token:<name>` (with `tokenId`, since a
 * revoked token's name can be given to a new one), `cli:<os user>`, `client:<id>`; from where:
 * the caller's address, or `cli`.
 */
export interface AuditEntry {
  id: number;
  at: string;
  actor: string;
  /** The API token behind a `token:<name>` actor; null for other actors and older rows. */
  tokenId: string | null;
  action: string;
  target: string | null;
  detail: unknown;
  source: string | null;
}

/**
 * One page: the newest `limit` matching entries, oldest first. `truncated` says older entries
 * match too, and `next` is the query that returns them (the same `since`, and this `before`),
 * so that a long `--since` never silently stops at the limit.
 */
export interface AuditPage {
  entries: AuditEntry[];
  truncated: boolean;
  next: { before: number } | null;
}

export const AUDIT_DEFAULT_LIMIT = 1000;
export const AUDIT_MAX_LIMIT = 10_000;

interface AuditRow {
  id: number | string;
  at: string;
  actor: string;
  token_id: string | null;
  action: string;
  target: string | null;
  detail: string | null;
  source: string | null;
}

export class AuditService {
  constructor(private readonly deps: { db: Db }) {}

  /** The newest `limit` entries at or after `since` (ISO time) and before id `before`. */
  async list(
    options: { since?: string; before?: number; limit?: number } = {},
  ): Promise<AuditPage> {
    const limit = options.limit ?? AUDIT_DEFAULT_LIMIT;
    if (!Number.isInteger(limit) || limit < 1 || limit > AUDIT_MAX_LIMIT)
      throw new UpcatError(
        'invalid_input',
        `limit: must be a whole number from 1 to ${AUDIT_MAX_LIMIT}`,
      );
    const before = options.before;
    if (before !== undefined && (!Number.isSafeInteger(before) || before < 1))
      throw new UpcatError(
        'invalid_input',
        'before: must be an entry id (a whole number, 1 or more)',
      );
    // One row more than asked for tells whether older entries match, without a count.
    let q = this.deps
      .db('audit_log')
      .orderBy('id', 'desc')
      .limit(limit + 1);
    if (options.since !== undefined) q = q.where('at', '>=', options.since);
    if (before !== undefined) q = q.where('id', '<', before);
    const rows = (await q) as AuditRow[];
    const truncated = rows.length > limit;
    const entries = rows.slice(0, limit).reverse().map(entryOf);
    const oldest = entries[0];
    return {
      entries,
      truncated,
      next: truncated && oldest !== undefined ? { before: oldest.id } : null,
    };
  }
}

function entryOf(r: AuditRow): AuditEntry {
  return {
    id: Number(r.id),
    at: r.at,
    actor: r.actor,
    tokenId: r.token_id,
    action: r.action,
    target: r.target,
    detail: parseDetail(r.detail),
    source: r.source,
  };
}

function parseDetail(detail: string | null): unknown {
  if (detail === null) return null;
  try {
    return JSON.parse(detail) as unknown;
  } catch {
    return detail;
  }
}
