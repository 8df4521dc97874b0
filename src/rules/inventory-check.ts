/**
 * A zod-free test that an inventory snapshot is one the schema of inventory.ts accepts as it is,
 * so that `upcat rules eval --inventory` and `upcat agent --inventory` need not load zod (~90 ms of
 * CPU at every start; issue 16) for a good snapshot. It is the fast path only: it answers true
 * only when the schema would accept the value and give back an equal one (never for an input the
 * schema would refuse, strip or rebuild), and may answer false for more. The caller parses every
 * value it refuses with the schema, which accepts it or names the bad field as before.
 */
import type { Inventory } from './inventory.js';
import { ARCHITECTURES } from './model.js';

type Check = (value: unknown) => boolean;

/** A JSON object: not an array, not a class instance, and no "__proto__" key zod would rebuild. */
function isPlain(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return (proto === Object.prototype || proto === null) && !Object.hasOwn(value, '__proto__');
}

const isString: Check = (v) => typeof v === 'string';
const isNonEmpty: Check = (v) => typeof v === 'string' && v.length > 0;
const isInt: Check = (v) => Number.isSafeInteger(v);
const isUint: Check = (v) => Number.isSafeInteger(v) && (v as number) >= 0;
const isScalar: Check = (v) =>
  typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v));
const isWmiValue: Check = (v) => v === null || isScalar(v);
const HEX_BYTES = /^([0-9A-Fa-f]{2})*$/;

/** A strict object: only the listed keys, each present one valid (absent is fine). */
function strict(fields: Record<string, Check>): Check {
  return (v) =>
    isPlain(v) &&
    Object.entries(v).every(
      ([key, field]) => Object.hasOwn(fields, key) && fields[key]?.(field) === true,
    );
}

/** A record whose keys are non-empty (or any string) and whose values all pass `check`. */
function record(check: Check, nonEmptyKeys = true): Check {
  return (v) =>
    isPlain(v) &&
    Object.entries(v).every(([key, field]) => (!nonEmptyKeys || key !== '') && check(field));
}

const arrayOf =
  (check: Check): Check =>
  (v) =>
    // Its own keys exactly its indexes: no holes, and nothing besides that zod's copy would drop.
    Array.isArray(v) && Object.keys(v).length === v.length && v.every(check);

const REGISTRY_DATA: Record<string, Check> = {
  REG_SZ: isString,
  REG_EXPAND_SZ: isString,
  REG_DWORD: isUint,
  REG_QWORD: isUint,
  REG_MULTI_SZ: arrayOf(isString),
  REG_BINARY: (v) => typeof v === 'string' && HEX_BYTES.test(v),
  REG_FULL_RESOURCE_DESCRIPTOR: (v) => typeof v === 'string' && HEX_BYTES.test(v),
};

const isRegistryValue: Check = (v) => {
  if (!isPlain(v) || Object.keys(v).length !== 2) return false;
  const type = v['type'];
  if (typeof type !== 'string' || !Object.hasOwn(REGISTRY_DATA, type)) return false;
  return Object.hasOwn(v, 'data') && REGISTRY_DATA[type]?.(v['data']) === true;
};

const isInventoryValue = strict({
  platform: strict({
    name: isNonEmpty,
    version: isNonEmpty,
    productType: isUint,
    architecture: (v) => (ARCHITECTURES as readonly unknown[]).includes(v),
    servicePackMajor: isUint,
    servicePackMinor: isUint,
  }),
  files: record(
    strict({
      version: isNonEmpty,
      size: isUint,
      created: isNonEmpty,
      modified: isNonEmpty,
      language: isUint,
    }),
  ),
  registry: record(record(isRegistryValue, false)),
  msiProducts: record(strict({ version: isNonEmpty, language: isInt })),
  wmi: record(arrayOf(record(isWmiValue, false))),
  facts: record(isScalar),
});

/** The platform's name is required by the schema; everything else in it is optional. */
function hasPlatformName(v: Record<string, unknown>): boolean {
  return !Object.hasOwn(v, 'platform') || Object.hasOwn(v['platform'] as object, 'name');
}

/** True only for a snapshot the schema accepts unchanged (see above); false means "ask zod". */
export function isInventory(value: unknown): value is Inventory {
  return isInventoryValue(value) && hasPlatformName(value as Record<string, unknown>);
}
