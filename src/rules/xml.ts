/**
 * The WSUS XML form of rules (lar:, bar:, msiar:), in either namespace family, resolved by
 * namespace URI. Two modes:
 * - strict, for XML a person wrote: anything outside the vocabulary is an error naming it;
 * - import, for SDPs from elsewhere: an element we cannot model is kept verbatim as an
 *   `Unsupported` rule (it evaluates to unknown) and reported, so nothing is lost.
 * Writing lives in xml-writer.ts and is re-exported here.
 */
import { invalidInput, isUpcatError } from '../errors.js';
import { completeBase } from './json.js';
import {
  LOGICAL_KINDS,
  MAX_RULE_DEPTH,
  type ForeignElement,
  type Rule,
  type RulePair,
} from './model.js';
import { vocabularyOfUri } from './namespaces.js';
import { displayName, parseXml, type XmlElement, type XmlLimits } from './safe-xml.js';
import { BASE_RULE_ATTRIBUTES, isBaseRuleKind, vocabularyOf } from './schema.js';
import { valueFromXml, type AttrValue } from './values.js';

export { applicabilityRulesToXml, ruleToXml, type XmlWriteOptions } from './xml-writer.js';

export type XmlMode = 'strict' | 'import';

export interface XmlReadOptions {
  mode?: XmlMode;
  limits?: Partial<XmlLimits>;
  /** Prefix of every error path (default "rule"). */
  path?: string;
}

/** An element kept as `Unsupported`: where it was and why it could not be modelled. */
export interface UnsupportedElement {
  name: string;
  path: string;
  reason: string;
}

export interface XmlRuleResult {
  rule: Rule;
  unsupported: UnsupportedElement[];
}

export interface XmlRulePairResult {
  rules: RulePair;
  unsupported: UnsupportedElement[];
}

interface Context {
  mode: XmlMode;
  unsupported: UnsupportedElement[];
}

/** Parses a document whose root element is one rule. */
export function parseRuleXml(xml: string, options: XmlReadOptions = {}): XmlRuleResult {
  return ruleFromXmlElement(parseXml(xml, options.limits), options);
}

/** Decodes an element already parsed by safe-xml (for example from inside an SDP). */
export function ruleFromXmlElement(
  element: XmlElement,
  options: XmlReadOptions = {},
): XmlRuleResult {
  const context: Context = { mode: options.mode ?? 'strict', unsupported: [] };
  const rule = decode(element, options.path ?? 'rule', 0, context);
  return { rule, unsupported: context.unsupported };
}

/** Parses an ApplicabilityRules element (Update or SDP namespace). */
export function parseApplicabilityRulesXml(
  xml: string,
  options: XmlReadOptions = {},
): XmlRulePairResult {
  return applicabilityRulesFromXmlElement(parseXml(xml, options.limits), options);
}

export function applicabilityRulesFromXmlElement(
  element: XmlElement,
  options: XmlReadOptions = {},
): XmlRulePairResult {
  const context: Context = { mode: options.mode ?? 'strict', unsupported: [] };
  const path = options.path ?? 'ApplicabilityRules';
  if (vocabularyOfUri(element.uri) !== 'upd' || element.local !== 'ApplicabilityRules') {
    throw invalidInput(
      `${path}: expected an ApplicabilityRules element, got ${describe(element)}`,
      {
        path,
      },
    );
  }
  const rules: RulePair = {};
  for (const child of element.children) {
    const key = pairKey(child);
    const at = key ?? `${path}.${child.local}`;
    if (key === undefined || rules[key] !== undefined || child.children.length !== 1) {
      const problem =
        key === undefined
          ? `unexpected element ${describe(child)} (expected IsInstalled, IsInstallable)`
          : rules[key] !== undefined
            ? `${child.local} appears twice`
            : `${child.local} must hold exactly one rule`;
      if (context.mode === 'strict') throw invalidInput(`${at}: ${problem}`, { path: at });
      context.unsupported.push({
        name: displayName(child),
        path: at,
        reason: `${problem}; not kept`,
      });
      continue;
    }
    rules[key] = decode(child.children[0] as XmlElement, key, 0, context);
  }
  return { rules, unsupported: context.unsupported };
}

function pairKey(element: XmlElement): keyof RulePair | undefined {
  if (vocabularyOfUri(element.uri) !== 'upd') return undefined;
  if (element.local === 'IsInstalled') return 'isInstalled';
  if (element.local === 'IsInstallable') return 'isInstallable';
  return undefined;
}

function decode(element: XmlElement, path: string, depth: number, context: Context): Rule {
  const at = `${path}.${element.local}`;
  try {
    if (depth > MAX_RULE_DEPTH) {
      throw invalidInput(`${path}: rules nest deeper than ${MAX_RULE_DEPTH}`, { path });
    }
    return decodeKnown(element, path, at, depth, context);
  } catch (err) {
    if (context.mode === 'strict' || !isUpcatError(err)) throw err;
    // Import: children already fell back on their own, so the error is about this element.
    context.unsupported.push({ name: displayName(element), path: at, reason: err.message });
    return { kind: 'Unsupported', element: toForeign(element) };
  }
}

function decodeKnown(
  element: XmlElement,
  path: string,
  at: string,
  depth: number,
  context: Context,
): Rule {
  const vocabulary = vocabularyOfUri(element.uri);
  const name = element.local;
  if (vocabulary === 'lar' && (LOGICAL_KINDS as readonly string[]).includes(name)) {
    noAttributes(element, at);
    const children = element.children.map((child, i) =>
      decode(child, name === 'Not' ? at : `${at}[${i}]`, depth + 1, context),
    );
    if (name === 'And' || name === 'Or') {
      if (children.length === 0) throw invalidInput(`${at}: needs at least one rule`, { path: at });
      return { kind: name, rules: children };
    }
    if (name === 'Not') {
      if (children.length !== 1) throw invalidInput(`${at}: needs exactly one rule`, { path: at });
      return { kind: 'Not', rule: children[0] as Rule };
    }
    if (children.length > 0) throw invalidInput(`${at}: takes no rules`, { path: at });
    return { kind: name === 'True' ? 'True' : 'False' };
  }
  if (isBaseRuleKind(name) && vocabulary === vocabularyOf(name)) {
    if (element.children.length > 0) {
      throw invalidInput(
        `${at}: unexpected element ${describe(element.children[0] as XmlElement)}`,
        {
          path: at,
        },
      );
    }
    noText(element, at);
    const specs = BASE_RULE_ATTRIBUTES[name];
    const attrs: Record<string, AttrValue> = {};
    for (const attr of element.attributes) {
      const spec = Object.prototype.hasOwnProperty.call(specs, attr.local)
        ? specs[attr.local]
        : undefined;
      if (attr.uri !== '' || spec === undefined) {
        throw invalidInput(
          `${at}: unknown attribute ${JSON.stringify(attr.local)} (expected ${Object.keys(specs).join(', ')})`,
          { path: at, attribute: attr.local },
        );
      }
      attrs[attr.local] = valueFromXml(spec.type, attr.value, `${at}.${attr.local}`);
    }
    return completeBase(name, attrs, at);
  }
  throw invalidInput(`${path}: unknown element ${describe(element)}`, {
    path,
    element: displayName(element),
  });
}

function noAttributes(element: XmlElement, at: string): void {
  noText(element, at);
  const first = element.attributes[0];
  if (first !== undefined) {
    throw invalidInput(`${at}: unknown attribute ${JSON.stringify(first.local)} (takes none)`, {
      path: at,
      attribute: first.local,
    });
  }
}

function noText(element: XmlElement, at: string): void {
  if (element.text !== '') throw invalidInput(`${at}: unexpected text`, { path: at });
}

function describe(element: XmlElement): string {
  const where = element.uri === '' ? 'no namespace' : `namespace ${element.uri}`;
  return `${displayName(element)} (${where})`;
}

/** Family-neutral names for a foreign element (see ForeignElement in model.ts). */
function neutralName(local: string, uri: string): string {
  if (uri === '') return local;
  const vocabulary = vocabularyOfUri(uri);
  if (vocabulary !== undefined && vocabulary !== 'upd') return `${vocabulary}:${local}`;
  return `{${uri}}${local}`;
}

function toForeign(element: XmlElement): ForeignElement {
  const attributes: Record<string, string> = {};
  for (const attr of element.attributes) {
    const name = neutralName(attr.local, attr.uri);
    if (name !== '__proto__') attributes[name] = attr.value;
  }
  const foreign: ForeignElement = {
    name: neutralName(element.local, element.uri),
    attributes,
    children: element.children.map(toForeign),
  };
  if (element.text !== '') foreign.text = element.text;
  return foreign;
}
