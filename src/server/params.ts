import { UpcatError } from '../errors.js';
import { decodeCursor } from './paging.js';

/** A route parameter as one string (Express 5 types wildcard parameters as arrays). */
export function paramOf(
  params: Record<string, string | string[] | undefined>,
  name: string,
): string {
  const value = params[name];
  return typeof value === 'string' ? value : '';
}

/**
 * The (text, text) sort key that a `cursor` query value carries for a list ordered by two text
 * columns (created_at and an ID); undefined when absent, a 400 naming the list when not one.
 */
export function textPairCursor(
  cursor: unknown,
  list: string,
): readonly [string, string] | undefined {
  if (cursor === undefined) return undefined;
  const [first, second] = decodeCursor(typeof cursor === 'string' ? cursor : '', 2);
  if (typeof first !== 'string' || typeof second !== 'string')
    throw new UpcatError('invalid_input', `cursor: not a cursor of the ${list} list`);
  return [first, second];
}
