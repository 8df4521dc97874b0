import { createHash } from 'node:crypto';
import type { Request, Response } from 'express';
import { UpcatError } from '../errors.js';
import { decodeBase64Strict } from '../strict-base64.js';

/**
 * Lists of the admin API (issue 14 item 1): a stable order, a `next` cursor, an ETag.
 *
 * A cursor is the sort key of the last row a page held, as base64url JSON: an array of strings
 * and numbers, nothing else. It is parsed strictly (canonical base64url, an array of at most 4
 * scalars of bounded size) and never trusted beyond that: the query uses its values as bound
 * parameters of a keyset condition ("rows after this key"), so a forged cursor can only move
 * the page, never widen what the caller may read. Keyset paging keeps a page of a 100,000-row
 * table as cheap as the first one, which OFFSET would not.
 */
export type CursorKey = ReadonlyArray<string | number>;

const MAX_CURSOR_TEXT = 1024;
export const DEFAULT_PAGE = 100;
export const MAX_PAGE = 1000;

export function encodeCursor(key: CursorKey): string {
  return Buffer.from(JSON.stringify(key), 'utf8').toString('base64url');
}

/** The key a `cursor` query value names; a 400 naming the problem when it is not one. */
export function decodeCursor(text: string, arity: number): CursorKey {
  const bad = (why: string): UpcatError =>
    new UpcatError('invalid_input', `cursor: ${why} (pass back the "next" of a previous page)`);
  if (text.length === 0 || text.length > MAX_CURSOR_TEXT) throw bad('empty or too long');
  const raw = decodeBase64Strict(text, 'base64url');
  if (raw === undefined) throw bad('not base64url');
  let value: unknown;
  try {
    value = JSON.parse(raw.toString('utf8'));
  } catch {
    throw bad('not a cursor');
  }
  if (!Array.isArray(value) || value.length !== arity) throw bad('not a cursor of this list');
  for (const v of value as unknown[]) {
    if (typeof v === 'number' ? !Number.isFinite(v) : typeof v !== 'string' || v.length > 256)
      throw bad('not a cursor of this list');
  }
  return value as CursorKey;
}

/** `limit` from the query: 1..MAX_PAGE, DEFAULT_PAGE when absent. */
export function pageLimitOf(value: unknown): number {
  if (value === undefined) return DEFAULT_PAGE;
  if (typeof value !== 'string' || !/^\d{1,4}$/.test(value))
    throw new UpcatError('invalid_input', `limit: a whole number from 1 to ${MAX_PAGE}`);
  const n = Number(value);
  if (n < 1 || n > MAX_PAGE)
    throw new UpcatError('invalid_input', `limit: a whole number from 1 to ${MAX_PAGE}`);
  return n;
}

/** A page: the items and the cursor of the next page (null on the last). */
export interface Page<T> {
  items: T[];
  next: string | null;
}

/**
 * Cuts `rows` (fetched with `limit + 1`, in the list's order) into a page: one row more than
 * the limit means there is a next page, whose cursor is the key of the last row kept.
 */
export function pageOf<T>(rows: T[], limit: number, keyOf: (row: T) => CursorKey): Page<T> {
  const items = rows.slice(0, limit);
  const last = items[items.length - 1];
  return {
    items,
    next: rows.length > limit && last !== undefined ? encodeCursor(keyOf(last)) : null,
  };
}

/**
 * Sends a JSON body with a strong ETag of its bytes; a matching `If-None-Match` is a 304
 * (RFC 9110 13.1.2), so a console polling a list pays only for what changed.
 */
export function sendJsonWithEtag(req: Request, res: Response, body: unknown): void {
  const bytes = Buffer.from(JSON.stringify(body), 'utf8');
  const etag = `"${createHash('sha256').update(bytes).digest('base64url').slice(0, 27)}"`;
  res.set('ETag', etag);
  res.set('Cache-Control', 'private, no-cache');
  const match = req.get('if-none-match');
  if (match !== undefined && match.split(',').some((m) => m.trim() === etag)) {
    res.status(304).end();
    return;
  }
  res.type('application/json').send(bytes);
}
