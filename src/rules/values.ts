/**
 * Attribute values: checking them from JSON (typed) and from XML (text), and writing them to XML.
 * Every string is checked to hold only characters XML can carry, so any rule that parses can be
 * written as XML and read back unchanged.
 */
import { invalidInput } from '../errors.js';
import {
  ARCHITECTURES,
  REGISTRY_KEYS,
  REGISTRY_VALUE_TYPES,
  SCALAR_COMPARISONS,
  STRING_COMPARISONS,
  type Architecture,
} from './model.js';
import type { AttrType } from './schema.js';
import { isVersion } from './version.js';

export type AttrValue = string | number | boolean;

/** Longest attribute value accepted (bt:RegistryValueSz allows 16383; WQL can be longer). */
export const MAX_STRING_LENGTH = 65536;

/** Characters outside the XML 1.0 Char production, or a lone surrogate. */
function hasNonXmlChar(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x20 && c !== 0x9 && c !== 0xa && c !== 0xd) return true;
    if (c === 0xfffe || c === 0xffff) return true;
    if (c >= 0xdc00 && c <= 0xdfff) return true;
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = value.charCodeAt(i + 1);
      if (!(next >= 0xdc00 && next <= 0xdfff)) return true;
      i += 1;
    }
  }
  return false;
}

const GUID = /^\{[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}\}$/;
const DATE_TIME = /^-?\d{4,}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?$/;

/** WSUS numeric processor codes (SYSTEM_INFO.wProcessorArchitecture). */
const ARCHITECTURE_CODES: Readonly<Record<string, Architecture>> = {
  '0': 'x86',
  '5': 'arm',
  '9': 'x64',
  '12': 'arm64',
};
const CODE_OF_ARCHITECTURE: Readonly<Record<Architecture, string>> = {
  x86: '0',
  arm: '5',
  x64: '9',
  arm64: '12',
};

const INTEGER_RANGES = {
  uint16: [0, 0xffff],
  uint32: [0, 0xffffffff],
  int32: [-0x80000000, 0x7fffffff],
  size: [0, Number.MAX_SAFE_INTEGER],
} as const;

export function checkXmlString(value: string, path: string): string {
  if (value.length > MAX_STRING_LENGTH) {
    throw invalidInput(`${path}: longer than ${MAX_STRING_LENGTH} characters`, { path });
  }
  if (hasNonXmlChar(value)) {
    throw invalidInput(`${path}: contains a character that XML cannot carry`, { path });
  }
  return value;
}

function oneOf(allowed: readonly string[], value: string, path: string): string {
  if (!allowed.includes(value)) {
    throw invalidInput(`${path}: expected one of ${allowed.join(', ')}, got ${quote(value)}`, {
      path,
    });
  }
  return value;
}

/** Checks a string value of any string-like type (shared by both forms). */
function checkText(type: AttrType, value: string, path: string): string {
  checkXmlString(value, path);
  switch (type) {
    case 'string':
      if (value.length === 0) throw invalidInput(`${path}: must not be empty`, { path });
      return value;
    case 'string0':
      return value;
    case 'version':
      if (!isVersion(value)) {
        throw invalidInput(`${path}: expected a version such as 1.2.3.4, got ${quote(value)}`, {
          path,
        });
      }
      return value;
    case 'dateTime':
      if (!DATE_TIME.test(value)) {
        throw invalidInput(`${path}: expected an XML dateTime, got ${quote(value)}`, { path });
      }
      return value;
    case 'guid':
      if (!GUID.test(value)) {
        throw invalidInput(`${path}: expected a GUID in braces, got ${quote(value)}`, { path });
      }
      return value;
    case 'scalarComparison':
      return oneOf(SCALAR_COMPARISONS, value, path);
    case 'stringComparison':
      return oneOf(STRING_COMPARISONS, value, path);
    case 'architecture':
      return oneOf(ARCHITECTURES, value, path);
    case 'registryKey':
      return oneOf(REGISTRY_KEYS, value, path);
    case 'registryValueType':
      return oneOf(REGISTRY_VALUE_TYPES, value, path);
    default:
      throw invalidInput(`${path}: expected a ${describe(type)}`, { path });
  }
}

function checkInteger(type: keyof typeof INTEGER_RANGES, value: number, path: string): number {
  const [min, max] = INTEGER_RANGES[type];
  if (!Number.isInteger(value) || value < min || value > max) {
    throw invalidInput(`${path}: expected an integer from ${min} to ${max}, got ${value}`, {
      path,
    });
  }
  return value;
}

function isIntegerType(type: AttrType): type is keyof typeof INTEGER_RANGES {
  return type in INTEGER_RANGES;
}

/** A value from the JSON form: numbers and booleans are JSON numbers and booleans. */
export function valueFromJson(type: AttrType, value: unknown, path: string): AttrValue {
  if (isIntegerType(type)) {
    if (typeof value !== 'number') throw expected(path, describe(type), value);
    return checkInteger(type, value, path);
  }
  if (type === 'bool') {
    if (typeof value !== 'boolean') throw expected(path, 'boolean', value);
    return value;
  }
  if (typeof value !== 'string') throw expected(path, describe(type), value);
  return checkText(type, value, path);
}

/** A value from the XML form, where every attribute is text. */
export function valueFromXml(type: AttrType, text: string, path: string): AttrValue {
  if (isIntegerType(type)) {
    if (!/^[+-]?\d{1,20}$/.test(text)) throw expected(path, describe(type), text);
    return checkInteger(type, Number(text), path);
  }
  if (type === 'bool') {
    if (text === 'true' || text === '1') return true;
    if (text === 'false' || text === '0') return false;
    throw expected(path, 'boolean (true, false, 1, 0)', text);
  }
  if (type === 'architecture') {
    const named = ARCHITECTURE_CODES[text];
    if (named !== undefined) return named;
    if ((ARCHITECTURES as readonly string[]).includes(text)) return text;
    throw invalidInput(
      `${path}: expected a processor architecture (0, 5, 9, 12, or ${ARCHITECTURES.join(', ')}), got ${quote(text)}`,
      { path },
    );
  }
  return checkText(type, text, path);
}

export function valueToXml(type: AttrType, value: AttrValue): string {
  if (type === 'architecture') return CODE_OF_ARCHITECTURE[value as Architecture];
  return String(value);
}

function describe(type: AttrType): string {
  if (isIntegerType(type)) return `integer (${type})`;
  return type === 'bool' ? 'boolean' : 'string';
}

function expected(path: string, what: string, got: unknown) {
  return invalidInput(`${path}: expected ${what}, got ${show(got)}`, { path });
}

export function show(value: unknown): string {
  if (typeof value === 'string') return quote(value);
  if (Array.isArray(value)) return 'an array';
  if (value === null) return 'null';
  return typeof value === 'object' ? 'an object' : String(value);
}

function quote(value: string): string {
  return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}...` : value);
}
