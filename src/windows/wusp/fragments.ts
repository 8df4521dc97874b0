/**
 * The one transformer from a full update metadata document to the fragments the protocol
 * sends ([MS-WUSP] 3.1.1.1, Metadata Table):
 * - Core (SyncUpdates): UpdateIdentity; Properties keeping only UpdateType,
 *   ExplicitlyDeployable, AutoSelectOnWebSites, OSUpgrade and EulaID (and, as in captured WSUS
 *   core fragments, none of its children); Relationships; ApplicabilityRules.
 * - Extended (GetExtendedUpdateInfo): Properties renamed ExtendedProperties, without
 *   UpdateType, ExplicitlyDeployable, AutoSelectOnWebSites, EulaID, PublicationState,
 *   PublisherID, CreationDate, IsPublic, LegacyName, DetectoidType, OSUpgrade; Files;
 *   HandlerSpecificData.
 * - LocalizedProperties: one per language.
 * In every fragment elements of the BaseApplicabilityRules, MsiApplicabilityRules and
 * WindowsDriver namespaces get the prefixes `b.`, `m.` and `d.`, every other element and
 * attribute loses its namespace, and no namespace is declared: the result is not well-formed
 * XML (several roots, undeclared prefixes in attribute values such as type="cmd:...").
 */
import { parseXml, type XmlElement } from '../../rules/safe-xml.js';
import { UPDATE_NS } from '../../catalog/update-xml.js';
import { escapeAttribute, escapeText } from './xml-text.js';

const RENAMED: ReadonlyMap<string, string> = new Map([
  ['http://schemas.microsoft.com/msus/2002/12/BaseApplicabilityRules', 'b.'],
  ['http://schemas.microsoft.com/msus/2002/12/MsiApplicabilityRules', 'm.'],
  ['http://schemas.microsoft.com/msus/2002/12/UpdateHandlers/WindowsDriver', 'd.'],
]);

const CORE_PROPERTIES = new Set([
  'UpdateType',
  'ExplicitlyDeployable',
  'AutoSelectOnWebSites',
  'OSUpgrade',
  'EulaID',
]);

const NOT_EXTENDED = new Set([
  'UpdateType',
  'ExplicitlyDeployable',
  'AutoSelectOnWebSites',
  'EulaID',
  'PublicationState',
  'PublisherID',
  'CreationDate',
  'IsPublic',
  'LegacyName',
  'DetectoidType',
  'OSUpgrade',
]);

export interface Fragments {
  core: string;
  extended: string;
  /** By language (the Language child of each LocalizedProperties). */
  localized: ReadonlyMap<string, string>;
}

/** Derives the fragments of one revision from its full metadata document. */
export function deriveFragments(fullXml: string): Fragments {
  const update = parseXml(fullXml);
  if (update.uri !== UPDATE_NS || update.local !== 'Update') {
    throw new Error('update metadata must have an Update root in the Update namespace');
  }
  const part = (local: string) =>
    update.children.find((c) => c.local === local && c.uri === UPDATE_NS);
  const properties = part('Properties');
  const core = [
    part('UpdateIdentity'),
    properties === undefined
      ? undefined
      : {
          ...properties,
          attributes: properties.attributes.filter((a) => CORE_PROPERTIES.has(a.local)),
          children: [],
        },
    part('Relationships'),
    part('ApplicabilityRules'),
  ];
  const extended = [
    properties === undefined
      ? undefined
      : {
          ...properties,
          local: 'ExtendedProperties',
          attributes: properties.attributes.filter((a) => !NOT_EXTENDED.has(a.local)),
        },
    part('Files'),
    part('HandlerSpecificData'),
  ];
  const localized = new Map<string, string>();
  const collection = part('LocalizedPropertiesCollection');
  for (const lp of collection?.children ?? []) {
    if (lp.local !== 'LocalizedProperties') continue;
    const language = lp.children.find((c) => c.local === 'Language')?.text.trim() ?? '';
    if (language !== '' && !localized.has(language)) localized.set(language, serialize(lp));
  }
  return {
    core: core.map((e) => (e === undefined ? '' : serialize(e))).join(''),
    extended: extended.map((e) => (e === undefined ? '' : serialize(e))).join(''),
    localized,
  };
}

/** One element with its namespaces stripped (and rule vocabularies renamed). */
export function serialize(e: XmlElement): string {
  const name = `${RENAMED.get(e.uri) ?? ''}${e.local}`;
  const attrs = e.attributes.map((a) => ` ${a.local}="${escapeAttribute(a.value)}"`).join('');
  const inner = e.children.map(serialize).join('') + (e.text === '' ? '' : escapeText(e.text));
  return inner === '' ? `<${name}${attrs} />` : `<${name}${attrs}>${inner}</${name}>`;
}
