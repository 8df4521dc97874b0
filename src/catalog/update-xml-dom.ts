/**
 * Element and attribute access for the update metadata reader: every check names where it failed,
 * as `Update.Files.File[1]@Digest`. Elements and attributes are matched by namespace URI.
 */
import type { z } from 'zod';
import { invalidInput } from '../errors.js';
import { displayName, type XmlElement } from '../rules/safe-xml.js';
import { checkField, UPCAT_NS, XSI_NS } from './update-xml-model.js';

/** [namespace URI, fewest, most] for each child element name. */
export type ChildSpec = Record<string, readonly [string, number, number]>;

/** Groups children by name; unknown or misplaced elements and wrong counts are errors. */
export function children(
  el: XmlElement,
  at: string,
  spec: ChildSpec,
  textAllowed = false,
): Map<string, XmlElement[]> {
  const found = new Map<string, XmlElement[]>();
  for (const child of el.children) {
    const entry = Object.prototype.hasOwnProperty.call(spec, child.local)
      ? spec[child.local]
      : undefined;
    if (entry === undefined || entry[0] !== child.uri) {
      throw invalidInput(`${at}: unexpected element ${describe(child)}`, {
        path: at,
        element: displayName(child),
      });
    }
    found.set(child.local, [...(found.get(child.local) ?? []), child]);
  }
  for (const [name, [, min, max]] of Object.entries(spec)) {
    const count = found.get(name)?.length ?? 0;
    if (count < min) throw invalidInput(`${at}: missing ${name}`, { path: at, element: name });
    if (count > max) {
      const limit = max === 1 ? 'once' : `${max} times`;
      throw invalidInput(`${at}: ${name} appears more than ${limit}`, { path: at });
    }
  }
  if (!textAllowed && el.text !== '') throw invalidInput(`${at}: unexpected text`, { path: at });
  return found;
}

export const one = (found: Map<string, XmlElement[]>, name: string) =>
  found.get(name)?.[0] as XmlElement;
export const optional = (found: Map<string, XmlElement[]>, name: string) => found.get(name)?.[0];

/** Attribute names: plain for no namespace, `upcat:` and `xsi:` for those namespaces by URI. */
export function attributes(
  el: XmlElement,
  at: string,
  allowed: readonly string[],
  required: readonly string[] = [],
): Record<string, string | undefined> {
  const values: Record<string, string | undefined> = {};
  for (const attr of el.attributes) {
    const prefix =
      attr.uri === ''
        ? ''
        : attr.uri === UPCAT_NS
          ? 'upcat:'
          : attr.uri === XSI_NS
            ? 'xsi:'
            : undefined;
    const name = prefix === undefined ? `{${attr.uri}}${attr.local}` : prefix + attr.local;
    if (!allowed.includes(name)) {
      throw invalidInput(`${at}: unknown attribute ${quote(name)}`, {
        path: at,
        attribute: name,
      });
    }
    values[name] = attr.value;
  }
  for (const name of required) {
    if (values[name] === undefined)
      throw invalidInput(`${at}: missing attribute ${name}`, { path: at, attribute: name });
  }
  return values;
}

/** Text content of an element that holds no elements. */
export function text(el: XmlElement, at: string, allowed: readonly string[] = []): string {
  children(el, at, {}, true);
  attributes(el, at, allowed);
  return el.text;
}

export function integer(value: string | undefined, schema: z.ZodType<number>, at: string): number {
  if (value === undefined || !/^\d{1,16}$/u.test(value)) {
    throw invalidInput(`${at}: must be a whole number, got ${quote(value)}`, { path: at });
  }
  return checkField(schema, Number(value), at);
}

/** A value as quoted in a message; long values are cut, since they come from outside. */
export function quote(value: string | undefined): string {
  if (value === undefined) return 'nothing';
  return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}...` : value);
}

export function describe(el: XmlElement): string {
  return `${displayName(el)} (${el.uri === '' ? 'no namespace' : `namespace ${el.uri}`})`;
}

/** base64 of exactly `bytes` bytes, written canonically, as hex. */
export function base64Digest(
  value: string | undefined,
  bytes: number,
  name: string,
  at: string,
): string {
  const s = value ?? '';
  const decoded = Buffer.from(s, 'base64');
  if (
    !/^[A-Za-z0-9+/]+={0,2}$/u.test(s) ||
    decoded.length !== bytes ||
    decoded.toString('base64') !== s
  ) {
    throw invalidInput(
      `${at}: must be the base64 ${name} digest (${bytes} bytes), got ${quote(s)}`,
      {
        path: at,
      },
    );
  }
  return decoded.toString('hex');
}
