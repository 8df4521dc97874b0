import { z } from 'zod';
import type { Knex } from 'knex';
import { pageLimitOf, pageOf, type Page } from '../server/paging.js';
import { textPairCursor } from '../server/params.js';
import { hasControlChars, parseWith } from '../validation.js';
import { whereAfter } from '../storage/keyset.js';
import type { Channel } from './channels.js';
import { normalizeClient, type ClientRow, type Q } from './client-repo.js';

/**
 * The filters of the clients list (issue 14 item 1), as `GET /v1/clients` takes them in its
 * query and `upcat clients list` in its options: both go through `parseClientQuery`, so the API
 * and the CLI accept and refuse exactly the same input.
 */
export interface ClientFilter {
  /** approved / pending (active records of that approval), conflict, obsolete. */
  status?: 'approved' | 'pending' | 'conflict' | 'obsolete';
  /** The record state alone (the CLI's older `--state`). */
  state?: ClientRow['record_state'];
  /** Member of the group of this name. */
  group?: string;
  blocked?: boolean;
  /** true: records held in conflict; false: every other record. */
  conflict?: boolean;
  /** Active records not seen (or never seen) for this many days. */
  staleDays?: number;
  channel?: Channel;
  /** Part of the name (any case), or the start of the client ID or hardware ID. */
  search?: string;
}

export interface ClientQuery {
  filter: ClientFilter;
  limit: number;
  /** The sort key after which the page starts: [created_at, client_id]. */
  after?: readonly [string, string];
}

const flag = z
  .enum(['true', 'false'], { error: 'must be true or false' })
  .transform((v) => v === 'true');

const printable = (max: number): z.ZodType<string> =>
  z
    .string({ error: 'give it once, as text' })
    .trim()
    .min(1, 'must not be empty')
    .max(max, `at most ${max} characters`)
    .refine((s) => !hasControlChars(s), 'must not hold control characters');

export const querySchema = z.strictObject({
  status: z
    .enum(['approved', 'pending', 'conflict', 'obsolete'], {
      error: 'must be approved, pending, conflict or obsolete',
    })
    .optional(),
  state: z
    .enum(['active', 'conflict', 'obsolete'], { error: 'must be active, conflict or obsolete' })
    .optional(),
  group: printable(128).optional(),
  blocked: flag.optional(),
  conflict: flag.optional(),
  staleDays: z
    .string({ error: 'give it once' })
    .regex(/^\d{1,5}$/, 'must be a whole number of days, 1 or more')
    .transform(Number)
    .refine((n) => n >= 1, 'must be a whole number of days, 1 or more')
    .optional(),
  // `native` is upcat's own agent (as opposed to Windows' WUA over MS-WUSP).
  channel: z
    .enum(['agent', 'native', 'wusp'], { error: 'must be agent (or native) or wusp' })
    .transform((c): Channel => (c === 'wusp' ? 'wusp' : 'agent'))
    .optional(),
  search: printable(128).optional(),
  limit: z.unknown().optional(),
  cursor: z.unknown().optional(),
});

/** A query string's filters, limit and cursor; a 400 naming the field when one is wrong. */
export function parseClientQuery(query: Record<string, unknown>): ClientQuery {
  const parsed = parseWith(querySchema, query, 'clients query', 'invalid_input');
  const { limit, cursor, ...filter } = parsed;
  const out: ClientQuery = { filter: dropUndefined(filter), limit: pageLimitOf(limit) };
  const after = textPairCursor(cursor, 'clients');
  if (after !== undefined) out.after = after;
  return out;
}

function dropUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

/**
 * One page of client rows, in (created_at, client_id) order: a keyset query ("rows after the
 * last key"), which the (created_at, client_id) index of migration 016 answers without a sort
 * or an offset, so page 1,000 of 100,000 clients costs what page 1 does.
 */
export async function clientRowsPage(
  q: Q,
  query: ClientQuery,
  nowMs: number = Date.now(),
): Promise<Page<ClientRow>> {
  const rows = q('clients').select('clients.*');
  applyFilter(q, rows, query.filter, nowMs);
  whereAfter(rows, ['created_at', 'client_id'], query.after);
  rows
    .orderBy('created_at')
    .orderBy('client_id')
    .limit(query.limit + 1);
  const found = ((await rows) as Array<Record<string, unknown>>).map(normalizeClient);
  return pageOf(found, query.limit, (r) => [r.created_at, r.client_id]);
}

function applyFilter(q: Q, rows: Knex.QueryBuilder, f: ClientFilter, nowMs: number): void {
  if (f.status === 'approved' || f.status === 'pending')
    rows.where({ record_state: 'active', approval: f.status });
  else if (f.status !== undefined) rows.where({ record_state: f.status });
  if (f.state !== undefined) rows.where({ record_state: f.state });
  if (f.conflict === true) rows.where({ record_state: 'conflict' });
  if (f.conflict === false) rows.whereNot({ record_state: 'conflict' });
  if (f.blocked !== undefined) rows.where({ blocked: f.blocked });
  if (f.channel !== undefined) rows.where({ channel: f.channel });
  if (f.staleDays !== undefined) {
    const cutoff = new Date(nowMs - f.staleDays * 86_400_000).toISOString();
    // The same records as `upcat report stale`: active ones, never seen or not since the cutoff.
    rows
      .where({ record_state: 'active' })
      .where((w) => w.whereNull('last_contact').orWhere('last_contact', '<', cutoff));
  }
  if (f.group !== undefined) {
    const group = f.group;
    rows.whereExists(
      q('client_groups as cg')
        .join('groups as g', 'g.id', 'cg.group_id')
        .whereRaw('cg.client_id = clients.client_id')
        .where('g.name', group)
        .select(q.raw('1')),
    );
  }
  if (f.search !== undefined) {
    const like = likeEscape(f.search.toLowerCase());
    // A substring search reads every row: the cheapest case-insensitive test per row matters.
    // SQLite's LIKE already ignores ASCII case (as its lower() is ASCII-only, the same matches)
    // and skips a function call per row; PostgreSQL has ILIKE.
    const ci = (column: string) =>
      (q.client.config.client as string) === 'pg'
        ? `${column} ilike ? escape '\\'`
        : `${column} like ? escape '\\'`;
    rows.where((w) =>
      w
        .whereRaw(ci('name'), [`%${like}%`])
        .orWhereRaw(`client_id like ? escape '\\'`, [`${like}%`])
        .orWhereRaw(ci('hardware_id'), [`${like}%`]),
    );
  }
}

/** `%`, `_` and `\` match themselves in a LIKE pattern. */
function likeEscape(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}
