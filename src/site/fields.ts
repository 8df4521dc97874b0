import { z } from 'zod';
import { UpcatError } from '../errors.js';
import { hasControlChars } from '../validation.js';

/**
 * Field rules shared by every client and admin request that reaches the database ("never a
 * 500", issue 5). Each bound is the column's: PostgreSQL refuses a string longer than its
 * varchar, an integer outside int4, and any string holding a NUL byte, where SQLite would
 * quietly store them; control characters are refused everywhere, since names and IDs end up in
 * tables, terminals and logs.
 */

/** Line breaks and tabs, allowed in free text (a detail, a PEM block); every other C0 and DEL is not. */
function hasControlCharsBeyondLines(text: string): boolean {
  return hasControlChars(text.replace(/[\t\n\r]/g, ''));
}

/** A one-line string of `min` (1) to `max` characters (the column's length), no control characters. */
export function text(max: number, min = 1): z.ZodString {
  return z
    .string()
    .min(min)
    .max(max)
    .refine((s) => !hasControlChars(s), 'must not hold control characters');
}

/** Free text of at most `max` characters: line breaks and tabs allowed, other control characters not. */
export function multiline(max: number): z.ZodString {
  return z
    .string()
    .max(max)
    .refine(
      (s) => !hasControlCharsBeyondLines(s),
      'must not hold control characters other than tabs and line breaks',
    );
}

/** An integer column (int4). */
export const INT4_MAX = 2_147_483_647;
export const int4 = (min = -INT4_MAX - 1): z.ZodNumber => z.number().int().min(min).max(INT4_MAX);

/**
 * A record ID taken from a URL path (`/v1/clients/<id>/...`): longer than any ID or holding a
 * control character, it cannot name a record and is a 400 before any query; otherwise the
 * lookup decides (404 when no record has it).
 */
export function checkPathId(value: string, field: string, max = 64): string {
  if (value.length === 0 || value.length > max || hasControlChars(value)) {
    throw new UpcatError(
      'invalid_input',
      `${field}: must be an ID of at most ${max} printable characters`,
      { details: { field } },
    );
  }
  return value;
}
