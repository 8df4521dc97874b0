/**
 * The WSUS rule namespaces. The same vocabularies exist in two families with the same element
 * and attribute names: update metadata served to clients (msus/2002/12) and the publishing
 * (SDP) family (wsus/2005/04/CorporatePublishing). Parsers resolve elements by namespace URI,
 * never by the prefix an author happened to use.
 */
import type { Vocabulary } from './schema.js';

export type NamespaceFamily = 'update' | 'publishing';

/** Namespace of the element holding IsInstalled / IsInstallable: Update, or SDP when publishing. */
export type Container = 'upd';

const UPDATE_BASE = 'http://schemas.microsoft.com/msus/2002/12/';
const PUBLISHING_BASE = 'http://schemas.microsoft.com/wsus/2005/04/CorporatePublishing/';

const FILE_OF: Readonly<Record<Vocabulary, string>> = {
  lar: 'LogicalApplicabilityRules',
  bar: 'BaseApplicabilityRules',
  msiar: 'MsiApplicabilityRules',
};

export function namespaceUri(vocabulary: Vocabulary | Container, family: NamespaceFamily): string {
  if (vocabulary === 'upd') {
    return family === 'update'
      ? `${UPDATE_BASE}Update`
      : `${PUBLISHING_BASE}SoftwareDistributionPackage.xsd`;
  }
  return family === 'update'
    ? `${UPDATE_BASE}${FILE_OF[vocabulary]}`
    : `${PUBLISHING_BASE}${FILE_OF[vocabulary]}.xsd`;
}

const VOCABULARIES: readonly (Vocabulary | Container)[] = ['lar', 'bar', 'msiar', 'upd'];
const BY_URI = new Map<string, Vocabulary | Container>(
  VOCABULARIES.flatMap((v) => [
    [namespaceUri(v, 'update'), v] as const,
    [namespaceUri(v, 'publishing'), v] as const,
  ]),
);

/** The vocabulary a namespace URI belongs to (either family), if any. */
export function vocabularyOfUri(uri: string): Vocabulary | Container | undefined {
  return BY_URI.get(uri);
}

export const XML_NAMESPACE = 'http://www.w3.org/XML/1998/namespace';
export const XMLNS_NAMESPACE = 'http://www.w3.org/2000/xmlns/';
