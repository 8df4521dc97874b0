import { UpcatError } from '../errors.js';
import { hasControlChars } from '../validation.js';
import { parseSince } from './duration.js';
import { decodeCursor, pageLimitOf, type CursorKey } from '../server/paging.js';

/**
 * Where an update stands, as `GET /v1/updates?status=` and `upcat updates list --status` name it:
 * `live` is offered to clients (deployable), `superseded` has a newer update that replaces it,
 * `expired` was withdrawn for good, `declined` was withdrawn until an undecline. The same split
 * as the revision report's status (site/reports.ts), with `live` for its `active`.
 */
export const UPDATE_STATUSES = ['live', 'superseded', 'expired', 'declined'] as const;
export type UpdateStatus = (typeof UPDATE_STATUSES)[number];

/** The filters of the updates list, checked: what the query builder may trust. */
export interface UpdateFilters {
  product?: string;
  classification?: string;
  /** Case-insensitive substring of the latest revision's title. */
  q?: string;
  status?: UpdateStatus;
  /** ISO time: only updates whose latest revision was published at or after it. */
  since?: string;
  limit: number;
  /** [published, updateId] of the last row of the previous page. */
  after?: CursorKey;
}

const KNOWN = ['product', 'classification', 'q', 'status', 'since', 'limit', 'cursor'] as const;
/** The widest column a filter compares with (revisions.product is varchar(256)). */
const MAX_TEXT = 256;

/**
 * The list's filters from a query string (the route passes `req.query`; the CLI builds the same
 * object from its options), each refused with a 400 that names the parameter. An unknown
 * parameter is refused too: a misspelt filter would otherwise list everything, silently.
 */
export function parseUpdateFilters(query: Readonly<Record<string, unknown>>): UpdateFilters {
  for (const name of Object.keys(query)) {
    if (!(KNOWN as readonly string[]).includes(name))
      throw bad(name, `unknown parameter (the filters are ${KNOWN.join(', ')})`);
  }
  const product = textOf(query, 'product');
  const classification = textOf(query, 'classification');
  const q = textOf(query, 'q');
  const status = textOf(query, 'status');
  if (status !== undefined && !(UPDATE_STATUSES as readonly string[]).includes(status))
    throw bad('status', `must be one of ${UPDATE_STATUSES.join(', ')}`);
  const since = textOf(query, 'since');
  const cursor = textOf(query, 'cursor');
  return {
    ...(product === undefined ? {} : { product }),
    ...(classification === undefined ? {} : { classification }),
    ...(q === undefined ? {} : { q }),
    ...(status === undefined ? {} : { status: status as UpdateStatus }),
    ...(since === undefined ? {} : { since: parseSince(since, 'since') }),
    limit: pageLimitOf(query['limit']),
    ...(cursor === undefined ? {} : { after: cursorKeyOf(cursor) }),
  };
}

function textOf(query: Readonly<Record<string, unknown>>, name: string): string | undefined {
  const value = query[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw bad(name, 'give it once, as text');
  if (value.length === 0 || value.length > MAX_TEXT)
    throw bad(name, `must be 1 to ${MAX_TEXT} characters`);
  if (hasControlChars(value)) throw bad(name, 'must not hold control characters');
  return value;
}

/** A cursor of this list: [published time, update ID], as pageOf wrote it. */
function cursorKeyOf(text: string): CursorKey {
  const key = decodeCursor(text, 2);
  if (typeof key[0] !== 'string' || typeof key[1] !== 'string')
    throw bad('cursor', 'not a cursor of this list (pass back the "next" of a previous page)');
  return key;
}

function bad(name: string, why: string): UpcatError {
  return new UpcatError('invalid_input', `${name}: ${why}`, { details: { field: name } });
}

/** `text` as a LIKE pattern matching it anywhere, its own `%`, `_` and `\` taken literally. */
export function containsPattern(text: string): string {
  return `%${text.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}
