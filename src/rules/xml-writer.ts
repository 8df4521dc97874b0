/**
 * Writes rules as WSUS XML with xml2js's Builder, in either namespace family. Namespace
 * declarations go on the root element only, so the rest of the document uses the fixed
 * prefixes lar:, bar:, msiar: (and ns1, ns2... for foreign namespaces).
 */
import { Builder } from 'xml2js';
import { baseAttributes } from './json.js';
import type { ForeignElement, Rule, RulePair } from './model.js';
import { namespaceUri, XML_NAMESPACE, type NamespaceFamily } from './namespaces.js';
import { BASE_RULE_ATTRIBUTES, vocabularyOf } from './schema.js';
import { valueToXml } from './values.js';

export interface XmlWriteOptions {
  /** Namespace family to emit; default 'update' (metadata served to clients). */
  family?: NamespaceFamily;
}

const builder = new Builder({ headless: true, renderOpts: { pretty: false } });

/** A standalone rule document: the rule's element is the root. */
export function ruleToXml(rule: Rule, options: XmlWriteOptions = {}): string {
  const family = options.family ?? 'update';
  const foreign = foreignNamespaces(rule);
  const declarations = { ...vocabularyDeclarations(family), ...foreignDeclarations(foreign) };
  return render(renderRule(rule, foreign), declarations);
}

/** `<ApplicabilityRules>` with IsInstalled then IsInstallable, each only when present. */
export function applicabilityRulesToXml(pair: RulePair, options: XmlWriteOptions = {}): string {
  const family = options.family ?? 'update';
  const prefix = family === 'update' ? 'upd' : 'sdp';
  const rules = [pair.isInstalled, pair.isInstallable].filter((r): r is Rule => r !== undefined);
  const foreign = foreignNamespaces(...rules);
  const children: Node[] = [];
  if (pair.isInstalled !== undefined) {
    children.push(node(`${prefix}:IsInstalled`, {}, [renderRule(pair.isInstalled, foreign)]));
  }
  if (pair.isInstallable !== undefined) {
    children.push(node(`${prefix}:IsInstallable`, {}, [renderRule(pair.isInstallable, foreign)]));
  }
  const declarations = {
    [`xmlns:${prefix}`]: namespaceUri('upd', family),
    ...vocabularyDeclarations(family),
    ...foreignDeclarations(foreign),
  };
  return render(node(`${prefix}:ApplicabilityRules`, {}, children), declarations);
}

function vocabularyDeclarations(family: NamespaceFamily): Record<string, string> {
  return {
    'xmlns:lar': namespaceUri('lar', family),
    'xmlns:bar': namespaceUri('bar', family),
    'xmlns:msiar': namespaceUri('msiar', family),
  };
}

/** Prefix for each namespace URI that foreign elements use (ns1, ns2...). */
type ForeignPrefixes = Map<string, string>;

function foreignDeclarations(prefixes: ForeignPrefixes): Record<string, string> {
  return Object.fromEntries([...prefixes].map(([uri, prefix]) => [`xmlns:${prefix}`, uri]));
}

function foreignNamespaces(...rules: Rule[]): ForeignPrefixes {
  const prefixes: ForeignPrefixes = new Map();
  const visitName = (name: string) => {
    const uri = clark(name)?.uri;
    if (uri !== undefined && uri !== XML_NAMESPACE && !prefixes.has(uri)) {
      prefixes.set(uri, `ns${prefixes.size + 1}`);
    }
  };
  const visitElement = (e: ForeignElement): void => {
    visitName(e.name);
    Object.keys(e.attributes).forEach(visitName);
    e.children.forEach(visitElement);
  };
  const visitRule = (r: Rule): void => {
    if (r.kind === 'And' || r.kind === 'Or') r.rules.forEach(visitRule);
    else if (r.kind === 'Not') visitRule(r.rule);
    else if (r.kind === 'Unsupported') visitElement(r.element);
  };
  rules.forEach(visitRule);
  return prefixes;
}

/** The xml2js Builder value of one element: an array of single-key objects keeps child order. */
type Node = { name: string; value: NodeValue };
type NodeValue = Record<string, unknown> | Record<string, unknown>[];

function renderRule(rule: Rule, foreign: ForeignPrefixes): Node {
  switch (rule.kind) {
    case 'And':
    case 'Or':
      return node(
        `lar:${rule.kind}`,
        {},
        rule.rules.map((r) => renderRule(r, foreign)),
      );
    case 'Not':
      return node('lar:Not', {}, [renderRule(rule.rule, foreign)]);
    case 'True':
    case 'False':
      return node(`lar:${rule.kind}`, {}, []);
    case 'Unsupported':
      return renderForeign(rule.element, foreign);
    default: {
      const specs = BASE_RULE_ATTRIBUTES[rule.kind];
      const attrs: Record<string, string> = {};
      for (const [name, value] of Object.entries(baseAttributes(rule))) {
        attrs[name] = valueToXml(specs[name]?.type ?? 'string', value);
      }
      return node(`${vocabularyOf(rule.kind)}:${rule.kind}`, attrs, []);
    }
  }
}

function renderForeign(e: ForeignElement, foreign: ForeignPrefixes): Node {
  const attrs: Record<string, string> = {};
  for (const [name, value] of Object.entries(e.attributes)) attrs[qualify(name, foreign)] = value;
  const children = e.children.map((c) => renderForeign(c, foreign));
  return node(qualify(e.name, foreign), attrs, children, e.text);
}

function clark(name: string): { uri: string; local: string } | undefined {
  const match = /^\{([^{}]+)\}(.+)$/u.exec(name);
  return match === null ? undefined : { uri: match[1] as string, local: match[2] as string };
}

/** `{uri}X` becomes `nsN:X` (or `xml:X`); `bar:X` and plain names are already qualified. */
function qualify(name: string, foreign: ForeignPrefixes): string {
  const parts = clark(name);
  if (parts === undefined) return name;
  const prefix = parts.uri === XML_NAMESPACE ? 'xml' : foreign.get(parts.uri);
  return `${prefix}:${parts.local}`;
}

/**
 * Builder values: children alone are an ordered array; attributes or text need the object
 * form, where children are grouped by name. Only foreign elements with attributes and
 * interleaved child names (none in the WSUS vocabularies) lose their child order that way.
 */
function node(name: string, attrs: Record<string, string>, children: Node[], text?: string): Node {
  if (children.length > 0 && Object.keys(attrs).length === 0 && text === undefined) {
    return { name, value: children.map((c) => ({ [c.name]: c.value })) };
  }
  const value: Record<string, unknown> = {};
  if (Object.keys(attrs).length > 0) value.$ = attrs;
  if (text !== undefined) value._ = text;
  for (const child of children) {
    const group = (value[child.name] ??= []) as NodeValue[];
    group.push(child.value);
  }
  return { name, value };
}

/**
 * Builds the document and adds the namespace declarations to the root's start tag: the
 * Builder has no way to give attributes to an element whose children are an ordered array.
 */
function render(root: Node, declarations: Record<string, string>): string {
  const xml = builder.buildObject({ [root.name]: root.value });
  const open = `<${root.name}`;
  if (!xml.startsWith(open))
    throw new Error(`xml2js wrote an unexpected root: ${xml.slice(0, 40)}`);
  const attrs = Object.entries(declarations)
    .map(([name, uri]) => ` ${name}="${escapeAttribute(uri)}"`)
    .join('');
  return open + attrs + xml.slice(open.length);
}

function escapeAttribute(value: string): string {
  return value
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/"/g, '&quot;')
    .replace(/\t/g, '&#x9;')
    .replace(/\n/g, '&#xA;')
    .replace(/\r/g, '&#xD;');
}
