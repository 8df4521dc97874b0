/**
 * Version comparison (DESIGN.md §8): dotted numbers compared part by part as numbers, missing
 * parts counting as 0, so 1.2 equals 1.2.0.0 and 1.10 is above 1.9. Parts are compared as digit
 * strings, so no part is ever too large to compare exactly.
 */
import type { ScalarComparison } from './model.js';

/** At most this many parts of at most this many digits (WSUS uses 4 parts of up to 5 digits). */
const VERSION = /^\d{1,20}(\.\d{1,20}){0,7}$/;

export function isVersion(text: string): boolean {
  return VERSION.test(text);
}

/** -1, 0 or 1; undefined when either side is not a version. */
export function compareVersions(a: string, b: string): -1 | 0 | 1 | undefined {
  if (!isVersion(a) || !isVersion(b)) return undefined;
  const left = a.split('.');
  const right = b.split('.');
  for (let i = 0; i < Math.max(left.length, right.length); i++) {
    const order = compareDigits(left[i] ?? '0', right[i] ?? '0');
    if (order !== 0) return order;
  }
  return 0;
}

function compareDigits(a: string, b: string): -1 | 0 | 1 {
  const x = a.replace(/^0+(?=\d)/, '');
  const y = b.replace(/^0+(?=\d)/, '');
  if (x.length !== y.length) return x.length < y.length ? -1 : 1;
  if (x === y) return 0;
  return x < y ? -1 : 1;
}

/** Whether `order` (actual compared with wanted) satisfies the comparison. */
export function satisfies(order: -1 | 0 | 1, comparison: ScalarComparison): boolean {
  switch (comparison) {
    case 'EqualTo':
      return order === 0;
    case 'LessThan':
      return order < 0;
    case 'LessThanOrEqualTo':
      return order <= 0;
    case 'GreaterThan':
      return order > 0;
    case 'GreaterThanOrEqualTo':
      return order >= 0;
  }
}

export function compareNumbers(a: number, b: number): -1 | 0 | 1 {
  if (a === b) return 0;
  return a < b ? -1 : 1;
}

/** `actual <comparison> wanted` for versions; undefined when either is not a version. */
export function versionSatisfies(
  actual: string,
  comparison: ScalarComparison,
  wanted: string,
): boolean | undefined {
  const order = compareVersions(actual, wanted);
  return order === undefined ? undefined : satisfies(order, comparison);
}
