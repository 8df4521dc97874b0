/**
 * Reads a WSUS-style update metadata document back into a revision. The text is parsed by
 * rules/safe-xml.ts (no DOCTYPE, no entities, bounded size and depth); elements and attributes are
 * matched by namespace URI, never by prefix; anything unexpected is an invalid_input error whose
 * message names the element, such as `Update.Files.File[1]@Digest: ...`.
 */
import { invalidInput, isUpcatError, UpcatError } from '../errors.js';
import { applicabilityRulesFromXmlElement, type XmlMode } from '../rules/index.js';
import { parseXml, type XmlElement, type XmlLimits } from '../rules/safe-xml.js';
import { guid, type Handler } from './manifest.js';
import { readHandler } from './update-xml-handler-reader.js';
import {
  attributes,
  base64Digest,
  children,
  describe,
  integer,
  one,
  optional,
  text,
  quote,
} from './update-xml-dom.js';
import {
  checkField,
  CMD_NS,
  fieldSchemas,
  MSP_NS,
  parseRevisionDocument,
  UPDATE_NS,
  type RevisionDocument,
  type RevisionFile,
} from './update-xml-model.js';

export interface RevisionXmlReadOptions {
  /**
   * How rule elements outside the vocabulary are read (see rules/xml.ts). Default 'import': they
   * are kept as Unsupported rules, which evaluate to unknown, so a document from a newer server
   * (or one carrying rules imported from an SDP) still reads, and writes back the same.
   * 'strict' makes them errors.
   */
  rules?: XmlMode;
  limits?: Partial<XmlLimits>;
}

/** Parses an update metadata document. Throws UpcatError (invalid_input, too_large) only. */
export function revisionFromXml(
  xml: string,
  options: RevisionXmlReadOptions = {},
): RevisionDocument {
  const root = parseXml(xml, options.limits);
  if (root.uri !== UPDATE_NS || root.local !== 'Update') {
    throw invalidInput(
      `expected the root element Update in namespace ${UPDATE_NS}, got ${describe(root)}`,
      {
        path: 'Update',
      },
    );
  }
  const at = 'Update';
  attributes(root, at, []);
  const parts = children(root, at, {
    UpdateIdentity: [UPDATE_NS, 1, 1],
    Properties: [UPDATE_NS, 1, 1],
    LocalizedPropertiesCollection: [UPDATE_NS, 1, 1],
    Relationships: [UPDATE_NS, 0, 1],
    ApplicabilityRules: [UPDATE_NS, 0, 1],
    Files: [UPDATE_NS, 0, 1],
    HandlerSpecificData: [UPDATE_NS, 1, 1],
  });
  const identity = one(parts, 'UpdateIdentity');
  const ids = attributes(
    identity,
    `${at}.UpdateIdentity`,
    ['UpdateID', 'RevisionNumber'],
    ['UpdateID', 'RevisionNumber'],
  );
  const handler = readHandler(one(parts, 'HandlerSpecificData'), `${at}.HandlerSpecificData`);
  const relationships = optional(parts, 'Relationships');
  const files = optional(parts, 'Files');
  const doc: RevisionDocument = {
    updateId: checkField(guid, ids.UpdateID, `${at}.UpdateIdentity@UpdateID`),
    revisionNumber: integer(
      ids.RevisionNumber,
      fieldSchemas.revisionNumber,
      `${at}.UpdateIdentity@RevisionNumber`,
    ),
    ...readProperties(one(parts, 'Properties'), `${at}.Properties`, handler),
    ...readLocalized(
      one(parts, 'LocalizedPropertiesCollection'),
      `${at}.LocalizedPropertiesCollection`,
    ),
    handler,
    ...(relationships === undefined
      ? EMPTY_RELATIONSHIPS
      : readRelationships(relationships, `${at}.Relationships`)),
    files: files === undefined ? [] : readFiles(files, `${at}.Files`),
  };
  const rules = optional(parts, 'ApplicabilityRules');
  if (rules !== undefined) Object.assign(doc, readRules(rules, options.rules ?? 'import'));
  // Every field was checked where it was read; this applies the cross-field limits and normalizes.
  return parseRevisionDocument(doc);
}

/** The rule engine reads the rules; its messages get the document path in front. */
function readRules(
  el: XmlElement,
  mode: XmlMode,
): Pick<RevisionDocument, 'isInstalled' | 'isInstallable'> {
  const at = 'Update.ApplicabilityRules';
  try {
    const pair = applicabilityRulesFromXmlElement(el, { mode, path: at }).rules;
    return {
      ...(pair.isInstalled === undefined ? {} : { isInstalled: pair.isInstalled }),
      ...(pair.isInstallable === undefined ? {} : { isInstallable: pair.isInstallable }),
    };
  } catch (err) {
    if (!isUpcatError(err) || err.message.startsWith(at)) throw err;
    throw new UpcatError(err.code, `${at}: ${err.message}`, {
      cause: err,
      details: { ...err.details },
    });
  }
}

const EMPTY_RELATIONSHIPS = { prerequisites: [], supersedes: [], bundles: [] };

function readProperties(el: XmlElement, at: string, handler: Handler) {
  const a = attributes(
    el,
    at,
    [
      'DefaultPropertiesLanguage',
      'UpdateType',
      'Handler',
      'CreationDate',
      'upcat:Product',
      'upcat:Classification',
      'upcat:Version',
    ],
    ['CreationDate', 'upcat:Product', 'upcat:Classification', 'upcat:Version'],
  );
  if (a.UpdateType !== undefined && a.UpdateType !== 'Software') {
    throw invalidInput(`${at}@UpdateType: must be Software, got ${quote(a.UpdateType)}`, {
      path: at,
    });
  }
  const expected = handler.type === 'msi' ? MSP_NS : CMD_NS;
  if (a.Handler !== undefined && a.Handler !== expected) {
    throw invalidInput(
      `${at}@Handler: ${quote(a.Handler)} does not match HandlerSpecificData (${expected})`,
      {
        path: at,
      },
    );
  }
  // The behaviours are derived from the handler when writing; only their shape is checked here.
  const behaviours = children(el, at, {
    InstallationBehavior: [UPDATE_NS, 0, 1],
    UninstallationBehavior: [UPDATE_NS, 0, 1],
  });
  for (const [name, list] of behaviours) {
    for (const b of list) attributes(b, `${at}.${name}`, ['RebootBehavior']);
  }
  return {
    created: checkField(fieldSchemas.created, a.CreationDate, `${at}@CreationDate`),
    product: checkField(fieldSchemas.product, a['upcat:Product'], `${at}@upcat:Product`),
    classification: checkField(
      fieldSchemas.classification,
      a['upcat:Classification'],
      `${at}@upcat:Classification`,
    ),
    version: checkField(fieldSchemas.version, a['upcat:Version'], `${at}@upcat:Version`),
  };
}

/** upcat keeps one language: exactly one LocalizedProperties. */
function readLocalized(el: XmlElement, at: string) {
  attributes(el, at, []);
  const entry = one(
    children(el, at, { LocalizedProperties: [UPDATE_NS, 1, 1] }),
    'LocalizedProperties',
  );
  const here = `${at}.LocalizedProperties`;
  attributes(entry, here, []);
  const parts = children(entry, here, {
    Language: [UPDATE_NS, 1, 1],
    Title: [UPDATE_NS, 1, 1],
    Description: [UPDATE_NS, 0, 1],
  });
  const description = optional(parts, 'Description');
  text(one(parts, 'Language'), `${here}.Language`);
  return {
    title: checkField(
      fieldSchemas.title,
      text(one(parts, 'Title'), `${here}.Title`),
      `${here}.Title`,
    ),
    description: checkField(
      fieldSchemas.description,
      description === undefined ? '' : text(description, `${here}.Description`),
      `${here}.Description`,
    ),
  };
}

/** MS-WUSP 3.1.1.1: Relationships/Prerequisites, BundledUpdates and SupersededUpdates. */
function readRelationships(el: XmlElement, at: string) {
  attributes(el, at, []);
  const parts = children(el, at, {
    SupersededUpdates: [UPDATE_NS, 0, 1],
    Prerequisites: [UPDATE_NS, 0, 1],
    BundledUpdates: [UPDATE_NS, 0, 1],
  });
  const list = (name: string): string[] => {
    const holder = optional(parts, name);
    if (holder === undefined) return [];
    attributes(holder, `${at}.${name}`, []);
    return identities(holder, `${at}.${name}`, 0);
  };
  const prerequisites: string[][] = [];
  const holder = optional(parts, 'Prerequisites');
  if (holder !== undefined) {
    const here = `${at}.Prerequisites`;
    attributes(holder, here, []);
    children(holder, here, {
      UpdateIdentity: [UPDATE_NS, 0, Infinity],
      AtLeastOne: [UPDATE_NS, 0, Infinity],
    });
    // Document order is the order of the AND: bare identities and AtLeastOne groups interleave.
    holder.children.forEach((child, i) => {
      if (child.local === 'UpdateIdentity') {
        prerequisites.push([identityOf(child, `${here}.UpdateIdentity[${i}]`)]);
      } else {
        const group = `${here}.AtLeastOne[${i}]`;
        // IsCategory marks a group of product or classification categories; it is still an OR.
        attributes(child, group, ['IsCategory']);
        prerequisites.push(identities(child, group, 1));
      }
    });
  }
  return { prerequisites, supersedes: list('SupersededUpdates'), bundles: list('BundledUpdates') };
}

function identities(el: XmlElement, at: string, min: number): string[] {
  children(el, at, { UpdateIdentity: [UPDATE_NS, min, Infinity] });
  return el.children.map((child, i) => identityOf(child, `${at}.UpdateIdentity[${i}]`));
}

/** A related update is named by UpdateID; a RevisionNumber (WSUS writes one for bundles) is ignored. */
function identityOf(el: XmlElement, at: string): string {
  const a = attributes(el, at, ['UpdateID', 'RevisionNumber'], ['UpdateID']);
  return checkField(guid, a.UpdateID, `${at}@UpdateID`);
}

function readFiles(el: XmlElement, at: string): RevisionFile[] {
  attributes(el, at, []);
  children(el, at, { File: [UPDATE_NS, 0, Infinity] });
  return el.children.map((f, i) => readFile(f, `${at}.File[${i}]`));
}

function readFile(el: XmlElement, at: string): RevisionFile {
  const a = attributes(
    el,
    at,
    ['FileName', 'Digest', 'DigestAlgorithm', 'Size', 'Modified', 'upcat:Kind'],
    ['FileName', 'Digest', 'DigestAlgorithm', 'Size'],
  );
  if (a.DigestAlgorithm !== 'SHA1') {
    throw invalidInput(`${at}@DigestAlgorithm: must be SHA1, got ${quote(a.DigestAlgorithm)}`, {
      path: at,
    });
  }
  const extra = one(children(el, at, { AdditionalDigest: [UPDATE_NS, 1, 1] }), 'AdditionalDigest');
  const here = `${at}.AdditionalDigest`;
  const algorithm = attributes(extra, here, ['Algorithm'], ['Algorithm']).Algorithm;
  if (algorithm !== 'SHA256') {
    throw invalidInput(`${here}@Algorithm: must be SHA256, got ${quote(algorithm)}`, {
      path: here,
    });
  }
  return {
    name: checkField(fieldSchemas.fileName, a.FileName, `${at}@FileName`),
    size: integer(a.Size, fieldSchemas.size, `${at}@Size`),
    sha1: base64Digest(a.Digest, 20, 'SHA-1', `${at}@Digest`),
    sha256: base64Digest(text(extra, here, ['Algorithm']), 32, 'SHA-256', here),
    // Files from real WSUS metadata have no kind: a plain file.
    kind: checkField(fieldSchemas.kind, a['upcat:Kind'] ?? 'file', `${at}@upcat:Kind`),
  };
}
