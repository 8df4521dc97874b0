/**
 * A zod-free test that an inventory snapshot is one the schema of inventory.ts accepts as it is,
 * so that `upcat rules eval --inventory` and `upcat agent --inventory` need not load zod for a good
 * snapshot (issue 16). The fast path only (see shape-check.ts): the caller parses every value it
 * refuses with the schema, which accepts it or names the bad field as before.
 */
import {
  arrayOf,
  isBoolean,
  isInt,
  isNonEmpty,
  isNumber,
  isPlain,
  isString,
  isUint,
  object,
  oneOf,
  record,
  type Check,
} from '../shape-check.js';
import type { Inventory } from './inventory.js';
import { ARCHITECTURES } from './model.js';

const HEX_BYTES = /^([0-9A-Fa-f]{2})*$/;
const isHex: Check = (v) => typeof v === 'string' && HEX_BYTES.test(v);
const isScalar: Check = (v) => isString(v) || isNumber(v) || isBoolean(v);

const REGISTRY_DATA: Record<string, Check> = {
  REG_SZ: isString,
  REG_EXPAND_SZ: isString,
  REG_DWORD: isUint,
  REG_QWORD: isUint,
  REG_MULTI_SZ: arrayOf(isString),
  REG_BINARY: isHex,
  REG_FULL_RESOURCE_DESCRIPTOR: isHex,
};

/** The schema's discriminated union: `type`, then `data` of the type's kind. */
const isRegistryValue: Check = (v) => {
  if (!isPlain(v)) return false;
  const keys = Object.keys(v);
  const type = v['type'];
  if (keys.length !== 2 || keys[0] !== 'type' || keys[1] !== 'data') return false;
  if (typeof type !== 'string' || !Object.hasOwn(REGISTRY_DATA, type)) return false;
  return REGISTRY_DATA[type]?.(v['data']) === true;
};

const isInventoryValue = object({
  platform: object(
    {
      name: isNonEmpty,
      version: isNonEmpty,
      productType: isUint,
      architecture: oneOf(ARCHITECTURES),
      servicePackMajor: isUint,
      servicePackMinor: isUint,
    },
    ['name'],
  ),
  files: record(
    object({
      version: isNonEmpty,
      size: isUint,
      created: isNonEmpty,
      modified: isNonEmpty,
      language: isUint,
    }),
  ),
  registry: record(record(isRegistryValue, false)),
  msiProducts: record(object({ version: isNonEmpty, language: isInt })),
  wmi: record(arrayOf(record((v) => v === null || isScalar(v), false))),
  facts: record(isScalar),
});

/** True only for a snapshot the schema accepts unchanged; false means "ask the schema". */
export function isInventory(value: unknown): value is Inventory {
  return isInventoryValue(value);
}
