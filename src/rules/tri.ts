/**
 * Three-valued (Kleene) logic: a rule the inventory cannot answer is 'unknown', which And / Or /
 * Not carry through instead of guessing (DESIGN.md §8: never silently true).
 */
export type Tri = true | false | 'unknown';

export function triAnd(values: Iterable<Tri>): Tri {
  let result: Tri = true;
  for (const value of values) {
    if (value === false) return false;
    if (value === 'unknown') result = 'unknown';
  }
  return result;
}

export function triOr(values: Iterable<Tri>): Tri {
  let result: Tri = false;
  for (const value of values) {
    if (value === true) return true;
    if (value === 'unknown') result = 'unknown';
  }
  return result;
}

export function triNot(value: Tri): Tri {
  return value === 'unknown' ? 'unknown' : !value;
}
