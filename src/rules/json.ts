/**
 * The JSON form of a rule (DESIGN.md §8): the element name is the key, its attributes are the
 * object, children are an array (And, Or) or one rule (Not); True and False take {}.
 * Everything is checked, unknown elements and attributes are errors (a typo must not pass),
 * and every message names the path of the bad node.
 */
import { invalidInput } from '../errors.js';
import { foreignToJson, parseForeignElement } from './foreign.js';
import { MAX_RULE_DEPTH, type BaseRule, type Rule, type RulePair } from './model.js';
import { BASE_RULE_ATTRIBUTES, BASE_RULE_KINDS, isBaseRuleKind } from './schema.js';
import { show, valueFromJson, type AttrValue } from './values.js';

export type JsonRule = { [element: string]: JsonRuleBody };
export type JsonRuleBody = JsonRule | JsonRule[] | Record<string, unknown>;

const ELEMENTS = ['And', 'Or', 'Not', 'True', 'False', ...BASE_RULE_KINDS, 'Unsupported'];

/** Parses one rule; `path` prefixes every error message (e.g. "isInstallable"). */
export function parseRuleJson(value: unknown, path = 'rule'): Rule {
  return parseNode(value, path, 0);
}

/** Parses `{ "isInstalled": ..., "isInstallable": ... }`; either may be absent. */
export function parseRulePairJson(value: unknown, path = ''): RulePair {
  const obj = asObject(value, path || 'rules');
  const pair: RulePair = {};
  for (const [key, child] of Object.entries(obj)) {
    const at = path === '' ? key : `${path}.${key}`;
    if (key === 'isInstalled') pair.isInstalled = parseRuleJson(child, at);
    else if (key === 'isInstallable') pair.isInstallable = parseRuleJson(child, at);
    else {
      throw invalidInput(`${at}: unknown field (expected isInstalled, isInstallable)`, {
        path: at,
      });
    }
  }
  return pair;
}

function parseNode(value: unknown, path: string, depth: number): Rule {
  if (depth > MAX_RULE_DEPTH) {
    throw invalidInput(`${path}: rules nest deeper than ${MAX_RULE_DEPTH}`, { path });
  }
  const obj = asObject(value, path);
  const keys = Object.keys(obj);
  if (keys.length !== 1) {
    throw invalidInput(
      `${path}: a rule is an object with exactly one element name, got ${keys.length === 0 ? 'none' : keys.join(', ')}`,
      { path },
    );
  }
  const name = keys[0] as string;
  const body = obj[name];
  const at = `${path}.${name}`;
  switch (name) {
    case 'And':
    case 'Or':
      return { kind: name, rules: parseList(body, at, depth) };
    case 'Not':
      return { kind: 'Not', rule: parseNode(body, at, depth + 1) };
    case 'True':
    case 'False':
      if (Object.keys(asObject(body, at)).length > 0) {
        throw invalidInput(`${at}: takes no attributes ({})`, { path: at });
      }
      return { kind: name };
    case 'Unsupported':
      return { kind: 'Unsupported', element: parseForeignElement(body, at, 0) };
    default:
      if (isBaseRuleKind(name)) return parseBase(name, body, at);
      throw invalidInput(
        `${path}: unknown element ${JSON.stringify(name)} (expected one of ${ELEMENTS.join(', ')})`,
        {
          path,
          element: name,
        },
      );
  }
}

function parseList(body: unknown, path: string, depth: number): Rule[] {
  if (!Array.isArray(body) || body.length === 0) {
    throw invalidInput(`${path}: expected a non-empty array of rules, got ${show(body)}`, { path });
  }
  return body.map((child, i) => parseNode(child, `${path}[${i}]`, depth + 1));
}

function parseBase(kind: BaseRule['kind'], body: unknown, path: string): BaseRule {
  const specs = BASE_RULE_ATTRIBUTES[kind];
  const attrs = asObject(body, path);
  const rule: Record<string, AttrValue> = {};
  for (const [name, value] of Object.entries(attrs)) {
    const spec = Object.prototype.hasOwnProperty.call(specs, name) ? specs[name] : undefined;
    if (spec === undefined) {
      throw invalidInput(
        `${path}: unknown attribute ${JSON.stringify(name)} (expected ${Object.keys(specs).join(', ')})`,
        { path, attribute: name },
      );
    }
    rule[name] = valueFromJson(spec.type, value, `${path}.${name}`);
  }
  return completeBase(kind, rule, path);
}

/** Checks required attributes and cross-attribute constraints; shared with the XML form. */
export function completeBase(
  kind: BaseRule['kind'],
  attrs: Record<string, AttrValue>,
  path: string,
): BaseRule {
  for (const [name, spec] of Object.entries(BASE_RULE_ATTRIBUTES[kind])) {
    if (spec.required && attrs[name] === undefined) {
      throw invalidInput(`${path}.${name}: required attribute is missing`, {
        path: `${path}.${name}`,
      });
    }
  }
  if (kind === 'Platform' && attrs.Comparison !== undefined && attrs.Version === undefined) {
    throw invalidInput(`${path}.Comparison: only meaningful with Version`, {
      path: `${path}.Comparison`,
    });
  }
  // Sound by construction: the attribute table mirrors the model types (tests round-trip both).
  return { kind, ...attrs } as BaseRule;
}

function asObject(value: unknown, path: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalidInput(`${path}: expected an object, got ${show(value)}`, { path });
  }
  return value as Record<string, unknown>;
}

/** The JSON form of a rule, attributes in the schema's order. */
export function ruleToJson(rule: Rule): JsonRule {
  switch (rule.kind) {
    case 'And':
    case 'Or':
      return { [rule.kind]: rule.rules.map(ruleToJson) };
    case 'Not':
      return { Not: ruleToJson(rule.rule) };
    case 'True':
    case 'False':
      return { [rule.kind]: {} };
    case 'Unsupported':
      return { Unsupported: foreignToJson(rule.element) };
    default:
      return { [rule.kind]: baseAttributes(rule) };
  }
}

/** A base rule's attributes without `kind`, in the schema's order. */
export function baseAttributes(rule: BaseRule): Record<string, AttrValue> {
  const values = rule as unknown as Record<string, AttrValue | undefined>;
  const out: Record<string, AttrValue> = {};
  for (const name of Object.keys(BASE_RULE_ATTRIBUTES[rule.kind])) {
    const value = values[name];
    if (value !== undefined) out[name] = value;
  }
  return out;
}

export function rulePairToJson(pair: RulePair): {
  isInstalled?: JsonRule;
  isInstallable?: JsonRule;
} {
  const out: { isInstalled?: JsonRule; isInstallable?: JsonRule } = {};
  if (pair.isInstalled !== undefined) out.isInstalled = ruleToJson(pair.isInstalled);
  if (pair.isInstallable !== undefined) out.isInstallable = ruleToJson(pair.isInstallable);
  return out;
}
