/**
 * A rule tree (already mapped by rules-map.ts) as the elements of the publishing family,
 * with the fixed prefixes lar:, bar:, msiar: that the exported document's root declares.
 * Attribute names, order and value forms come from the rule engine's one table (schema.ts),
 * so they are the ones the importer reads back.
 */
import { baseAttributes } from '../../rules/json.js';
import type { ForeignElement, Rule } from '../../rules/index.js';
import { BASE_RULE_ATTRIBUTES, vocabularyOf } from '../../rules/schema.js';
import { valueToXml } from '../../rules/values.js';
import { element, escapeText } from './xml-text.js';

export function ruleXml(rule: Rule): string {
  switch (rule.kind) {
    case 'And':
    case 'Or':
      return element(`lar:${rule.kind}`, [], rule.rules.map(ruleXml));
    case 'Not':
      return element('lar:Not', [], [ruleXml(rule.rule)]);
    case 'True':
    case 'False':
      return element(`lar:${rule.kind}`, []);
    case 'Unsupported':
      return foreignXml(rule.element);
    default: {
      const specs = BASE_RULE_ATTRIBUTES[rule.kind];
      const attrs = Object.entries(baseAttributes(rule)).map(([name, value]): [string, string] => [
        name,
        valueToXml(specs[name]?.type ?? 'string', value),
      ]);
      return element(`${vocabularyOf(rule.kind)}:${rule.kind}`, attrs);
    }
  }
}

/** A schema element kept verbatim at import (names are `bar:X`, `lar:X`, `msiar:X`). */
function foreignXml(e: ForeignElement): string {
  const attrs = Object.entries(e.attributes);
  const inner = e.children.map(foreignXml);
  if (e.text !== undefined) inner.unshift(escapeText(e.text));
  return element(e.name, attrs, inner);
}
