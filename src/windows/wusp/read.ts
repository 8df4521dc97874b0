/**
 * Typed reads of request elements ([MS-WUSP] section 6 schemas are elementFormDefault
 * "qualified": every child is in its service's namespace). Each reader names the element it
 * refuses, as InvalidParameters wants ("the message part will contain the parameter name").
 */
import type { XmlElement } from '../../rules/safe-xml.js';
import { WuspFault, XSI_NS } from './soap.js';

export function invalid(what: string, why: string): WuspFault {
  return new WuspFault('InvalidParameters', `${what}: ${why}`);
}

/** xsi:nil="true" (or "1", as the section 4 samples write it). */
export function isNil(e: XmlElement): boolean {
  return e.attributes.some(
    (a) => a.uri === XSI_NS && a.local === 'nil' && (a.value === 'true' || a.value === '1'),
  );
}

/** The child of that local name in the parent's namespace; nil counts as absent. */
export function child(parent: XmlElement, local: string): XmlElement | undefined {
  const found = parent.children.find((c) => c.local === local && c.uri === parent.uri);
  return found === undefined || isNil(found) ? undefined : found;
}

export function children(parent: XmlElement, local: string): XmlElement[] {
  return parent.children.filter((c) => c.local === local && c.uri === parent.uri && !isNil(c));
}

/** Text of an optional child, at most `max` characters. */
export function optText(parent: XmlElement, local: string, max: number): string | undefined {
  const e = child(parent, local);
  if (e === undefined) return undefined;
  if (e.children.length > 0) throw invalid(local, 'must hold text, not elements');
  if (e.text.length > max) throw invalid(local, `must be at most ${max} characters`);
  return e.text;
}

export function reqText(parent: XmlElement, local: string, max: number): string {
  const value = optText(parent, local, max);
  if (value === undefined) throw invalid(local, 'is required');
  return value;
}

const INT = /^[+-]?\d{1,10}$/;

export function toInt(text: string, what: string, min = -2147483648, max = 2147483647): number {
  const t = text.trim();
  const n = INT.test(t) ? Number(t) : NaN;
  if (!Number.isInteger(n) || n < min || n > max)
    throw invalid(what, 'must be an integer in range');
  return n;
}

export function optInt(
  parent: XmlElement,
  local: string,
  min?: number,
  max?: number,
): number | undefined {
  const t = optText(parent, local, 16);
  return t === undefined ? undefined : toInt(t, local, min, max);
}

export function optBool(parent: XmlElement, local: string): boolean | undefined {
  const t = optText(parent, local, 8)?.trim();
  if (t === undefined) return undefined;
  if (t === 'true' || t === '1') return true;
  if (t === 'false' || t === '0') return false;
  throw invalid(local, 'must be true or false');
}

/** xsd:dateTime; a time without a zone (as WUA often sends) is taken as UTC. */
const DATE_TIME =
  /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})?$/;

export function toDateTime(text: string, what: string): number {
  const m = DATE_TIME.exec(text.trim());
  if (m === null) throw invalid(what, 'must be an xsd:dateTime');
  const [, y, mo, d, h, mi, s, frac = '', zone = 'Z'] = m;
  const ms = Number(frac.padEnd(3, '0').slice(0, 3));
  let at = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s), ms);
  if (zone !== 'Z') {
    const sign = zone.startsWith('-') ? -1 : 1;
    at -= sign * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6))) * 60_000;
  }
  if (!Number.isFinite(at)) throw invalid(what, 'must be an xsd:dateTime');
  return at;
}

export function optDateTime(parent: XmlElement, local: string): number | undefined {
  const t = optText(parent, local, 40);
  return t === undefined ? undefined : toDateTime(t, local);
}

/** xsd:base64Binary, white space (line breaks in the samples) ignored. */
export function toBase64(text: string, what: string, maxBytes: number): Buffer {
  const t = text.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(t) || t.length % 4 !== 0) {
    throw invalid(what, 'must be base64');
  }
  if ((t.length / 4) * 3 > maxBytes + 2) throw invalid(what, `must be at most ${maxBytes} bytes`);
  return Buffer.from(t, 'base64');
}

/** ArrayOfInt: `<name><int>1</int>...</name>`; nil or absent is an empty list. */
export function intArray(parent: XmlElement, local: string, max: number): number[] {
  const list = child(parent, local);
  if (list === undefined) return [];
  const items = children(list, 'int');
  if (items.length > max) throw invalid(local, `must list at most ${max} IDs`);
  return items.map((i) => toInt(i.text, local));
}

/** ArrayOfString. */
export function stringArray(
  parent: XmlElement,
  local: string,
  max: number,
  maxLength: number,
): string[] {
  const list = child(parent, local);
  if (list === undefined) return [];
  const items = children(list, 'string');
  if (items.length > max) throw invalid(local, `must list at most ${max} strings`);
  return items.map((i) => {
    if (i.text.length > maxLength)
      throw invalid(local, `strings must be at most ${maxLength} characters`);
    return i.text;
  });
}
