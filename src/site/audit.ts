import { UpcatError } from '../errors.js';
import type { Db } from '../storage/db.js';

/**
 * The audit log (issue 7): one row per change, written by each mutating service inside its own
 * transaction (storage/catalog-repo.ts `audit`). Who: `token:<name>`, `cli:<os user>`,
 * `client:<id>`; from where: the caller's address, or `cli`.
 */
export interface AuditEntry {
  id: number;
  at: string;
  actor: string;
  action: string;
  target: string | null;
  detail: unknown;
  source: string | null;
}

export const AUDIT_DEFAULT_LIMIT = 1000;
export const AUDIT_MAX_LIMIT = 10_000;

export class AuditService {
  constructor(private readonly deps: { db: Db }) {}

  /** The newest `limit` entries at or after `since` (ISO time), oldest first. */
  async list(options: { since?: string; limit?: number } = {}): Promise<AuditEntry[]> {
    const limit = options.limit ?? AUDIT_DEFAULT_LIMIT;
    if (!Number.isInteger(limit) || limit < 1 || limit > AUDIT_MAX_LIMIT)
      throw new UpcatError(
        'invalid_input',
        `limit: must be a whole number from 1 to ${AUDIT_MAX_LIMIT}`,
      );
    let q = this.deps.db('audit_log').orderBy('id', 'desc').limit(limit);
    if (options.since !== undefined) q = q.where('at', '>=', options.since);
    const rows = (await q) as Array<{
      id: number | string;
      at: string;
      actor: string;
      action: string;
      target: string | null;
      detail: string | null;
      source: string | null;
    }>;
    return rows.reverse().map((r) => ({
      id: Number(r.id),
      at: r.at,
      actor: r.actor,
      action: r.action,
      target: r.target,
      detail: parseDetail(r.detail),
      source: r.source,
    }));
  }
}

function parseDetail(detail: string | null): unknown {
  if (detail === null) return null;
  try {
    return JSON.parse(detail) as unknown;
  } catch {
    return detail;
  }
}
