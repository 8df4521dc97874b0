/** Public API of the applicability rule engine. */
export * from './model.js';
export { compareVersions, isVersion, versionSatisfies } from './version.js';
export {
  parseRuleJson,
  parseRulePairJson,
  ruleToJson,
  rulePairToJson,
  type JsonRule,
} from './json.js';
export {
  applicabilityRulesFromXmlElement,
  applicabilityRulesToXml,
  parseApplicabilityRulesXml,
  parseRuleXml,
  ruleFromXmlElement,
  ruleToXml,
  type UnsupportedElement,
  type XmlMode,
  type XmlReadOptions,
  type XmlRulePairResult,
  type XmlRuleResult,
  type XmlWriteOptions,
} from './xml.js';
export type { NamespaceFamily } from './namespaces.js';
export { parseInventory, type Inventory } from './inventory.js';
export {
  applicability,
  evaluateIsInstallable,
  evaluateIsInstalled,
  evaluatePrerequisites,
  evaluateRule,
  type Applicability,
  type Evaluation,
  type InstalledLookup,
  type Tri,
  type UpdateRules,
  type Why,
} from './evaluate.js';
export { parseWql, evaluateWql, type WqlParseResult } from './wql.js';
