/**
 * Foreign elements: XML outside the rule vocabulary that an imported SDP carries (bar:RegKeyLoop,
 * bar:WindowsLanguage...). They are kept verbatim in an `Unsupported` rule so the SDP can be
 * written back, and they evaluate to unknown. This module checks their JSON form.
 */
import { invalidInput } from '../errors.js';
import type { ForeignElement } from './model.js';
import { vocabularyOfUri } from './namespaces.js';
import { checkXmlString, show } from './values.js';

const NCNAME = /^[\p{L}_][\p{L}\p{N}._\-\u00B7]*$/u;

/** `bar:X`, `lar:X`, `msiar:X`, `{uri}X` or `X`: see ForeignElement. */
export function isForeignName(name: string): boolean {
  if (name === '__proto__') return false;
  const clark = /^\{([^{}]+)\}(.+)$/u.exec(name);
  if (clark !== null) {
    // A WSUS vocabulary URI is written bar:X (family-neutral), never {uri}X.
    const vocabulary = vocabularyOfUri(clark[1] ?? '');
    if (vocabulary !== undefined && vocabulary !== 'upd') return false;
    return NCNAME.test(clark[2] ?? '');
  }
  const prefixed = /^(bar|lar|msiar):(.+)$/u.exec(name);
  if (prefixed !== null) return NCNAME.test(prefixed[2] ?? '');
  return NCNAME.test(name);
}

export function parseForeignElement(value: unknown, path: string, depth: number): ForeignElement {
  if (depth > 64) throw invalidInput(`${path}: nested too deeply`, { path });
  const obj = asRecord(value, path);
  for (const key of Object.keys(obj)) {
    if (!['name', 'attributes', 'children', 'text'].includes(key)) {
      throw invalidInput(`${path}: unknown field ${JSON.stringify(key)}`, { path });
    }
  }
  const name = obj.name;
  if (typeof name !== 'string' || !isForeignName(name) || name.length > 1024) {
    throw invalidInput(`${path}.name: expected an element name such as bar:RegKeyLoop`, {
      path: `${path}.name`,
    });
  }
  checkXmlString(name, `${path}.name`);
  const element: ForeignElement = {
    name,
    attributes: parseAttributes(obj.attributes, `${path}.attributes`),
    children: parseChildren(obj.children, `${path}.children`, depth),
  };
  if (obj.text !== undefined) {
    if (typeof obj.text !== 'string' || obj.text.trim() === '') {
      throw invalidInput(`${path}.text: expected a non-blank string`, { path: `${path}.text` });
    }
    element.text = checkXmlString(obj.text, `${path}.text`);
  }
  return element;
}

function parseAttributes(value: unknown, path: string): Record<string, string> {
  if (value === undefined) return {};
  const attrs: Record<string, string> = {};
  for (const [key, v] of Object.entries(asRecord(value, path))) {
    if (!isForeignName(key) || key.startsWith('xmlns')) {
      throw invalidInput(`${path}: ${JSON.stringify(key)} is not an attribute name`, { path });
    }
    if (typeof v !== 'string') {
      throw invalidInput(`${path}.${key}: expected string, got ${show(v)}`, { path });
    }
    attrs[key] = checkXmlString(v, `${path}.${key}`);
  }
  return attrs;
}

function parseChildren(value: unknown, path: string, depth: number): ForeignElement[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw invalidInput(`${path}: expected an array`, { path });
  return value.map((child, i) => parseForeignElement(child, `${path}[${i}]`, depth + 1));
}

function asRecord(value: unknown, path: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalidInput(`${path}: expected an object, got ${show(value)}`, { path });
  }
  return value as Record<string, unknown>;
}

/** JSON form of a foreign element: empty fields left out. */
export function foreignToJson(element: ForeignElement): Record<string, unknown> {
  const out: Record<string, unknown> = { name: element.name };
  if (Object.keys(element.attributes).length > 0) out.attributes = { ...element.attributes };
  if (element.children.length > 0) out.children = element.children.map(foreignToJson);
  if (element.text !== undefined) out.text = element.text;
  return out;
}
