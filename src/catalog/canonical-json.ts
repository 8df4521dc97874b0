/** JSON values as they come out of JSON.parse. */
export type JsonValue =
  null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/**
 * Serializes with object keys sorted at every level and no white space, so that equal values
 * always give equal bytes (idempotency keys, signed metadata, the unchanged-key of an import).
 *
 * It runs on every rule tree of an import (hundreds of nodes per driver package), so it is
 * written for speed: one string built by concatenation, the sort skipped for keys already in
 * order, and the quoted form of the few key names a catalog uses remembered. The order is the
 * default sort's, by UTF-16 code units, which is what `<` on strings compares.
 */
export function canonicalJson(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value))
        throw new TypeError('canonical JSON cannot hold a non-finite number');
      return JSON.stringify(value);
    case 'object':
      if (value === null) return 'null';
      return Array.isArray(value) ? arrayJson(value) : objectJson(value as Record<string, unknown>);
    default:
      throw new TypeError(`canonical JSON cannot hold a ${typeof value}`);
  }
}

function arrayJson(items: readonly unknown[]): string {
  if (items.length === 0) return '[]';
  let s = '[' + canonicalJson(items[0]);
  for (let i = 1; i < items.length; i++) s += ',' + canonicalJson(items[i]);
  return s + ']';
}

function objectJson(obj: Record<string, unknown>): string {
  const keys = Object.keys(obj);
  for (let i = 1; i < keys.length; i++) {
    if ((keys[i - 1] ?? '') > (keys[i] ?? '')) {
      keys.sort();
      break;
    }
  }
  let s = '{';
  for (const k of keys) {
    const v = obj[k];
    if (v === undefined) continue;
    s += (s.length === 1 ? '' : ',') + quoteKey(k) + ':' + canonicalJson(v);
  }
  return s + '}';
}

const quotedKeys = new Map<string, string>();
/** Bounded: the names of a catalog's fields repeat; keys made of data (IDs) stop being cached. */
const MAX_QUOTED_KEYS = 4096;

function quoteKey(key: string): string {
  let quoted = quotedKeys.get(key);
  if (quoted === undefined) {
    quoted = JSON.stringify(key);
    if (quotedKeys.size < MAX_QUOTED_KEYS) quotedKeys.set(key, quoted);
  }
  return quoted;
}
