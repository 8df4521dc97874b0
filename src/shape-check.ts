/**
 * Small zod-free checks of parsed JSON, for the fast paths that let a CLI command skip loading zod
 * (~90 ms of CPU at every start; issue 16) when a file is what its zod schema expects.
 *
 * Every check here is conservative: it answers true only for a value that the matching zod schema
 * would accept and give back equal, keys in the same order (zod rebuilds objects in the order of
 * their shape, drops unknown keys from a non-strict object and fills defaults). Anything else,
 * including what the schema would accept after changing it, answers false, and the caller then
 * parses with the schema itself, which gives the value or names the bad field as before.
 */
export type Check = (value: unknown) => boolean;

/** A JSON object: not an array, not a class instance, and no "__proto__" key zod would rebuild. */
export function isPlain(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return (proto === Object.prototype || proto === null) && !Object.hasOwn(value, '__proto__');
}

export const isString: Check = (v) => typeof v === 'string';
export const isNonEmpty: Check = (v) => typeof v === 'string' && v.length > 0;
/** `z.number().int()`: a safe integer. */
export const isInt: Check = (v) => Number.isSafeInteger(v);
/** `z.number().int().nonnegative()`. */
export const isUint: Check = (v) => Number.isSafeInteger(v) && (v as number) >= 0;
/** `z.number()`: finite. */
export const isNumber: Check = (v) => typeof v === 'number' && Number.isFinite(v);
export const isBoolean: Check = (v) => typeof v === 'boolean';

export const oneOf =
  (values: readonly unknown[]): Check =>
  (v) =>
    values.includes(v);

export const nullable =
  (check: Check): Check =>
  (v) =>
    v === null || check(v);

/**
 * An object of the listed fields: no other key, the keys in the listed order, the `required` ones
 * present, each present one valid (an absent optional one is fine).
 */
export function object(fields: Record<string, Check>, required: readonly string[] = []): Check {
  const order = Object.keys(fields);
  return (v) => {
    if (!isPlain(v)) return false;
    let at = 0;
    for (const [key, field] of Object.entries(v)) {
      const i = order.indexOf(key);
      if (i < at || fields[key]?.(field) !== true) return false;
      at = i + 1;
    }
    return required.every((key) => Object.hasOwn(v, key));
  };
}

/**
 * Whether a non-strict zod object would accept `v`: the `required` fields present, each listed
 * field present valid, other keys ignored (zod drops them). For a yes-or-no question only: the
 * value zod gives back differs when there are other keys or the order differs.
 */
export function acceptedObject(fields: Record<string, Check>, required: readonly string[]): Check {
  return (v) =>
    isPlain(v) &&
    required.every((key) => Object.hasOwn(v, key)) &&
    Object.entries(v).every(
      ([key, field]) => !Object.hasOwn(fields, key) || fields[key]?.(field) === true,
    );
}

/** A record whose keys are non-empty (or any string) and whose values all pass `check`. */
export function record(check: Check, nonEmptyKeys = true): Check {
  return (v) =>
    isPlain(v) &&
    Object.entries(v).every(([key, field]) => (!nonEmptyKeys || key !== '') && check(field));
}

/** An array of valid items whose own keys are exactly its indexes (no holes, nothing besides). */
export const arrayOf =
  (check: Check): Check =>
  (v) =>
    Array.isArray(v) && Object.keys(v).length === v.length && v.every(check);
