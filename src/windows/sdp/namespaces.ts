/**
 * The namespaces of an exported SoftwareDistributionPackage and SystemsManagementCatalog
 * (interop.md §1.1, §2): the WSUS "CorporatePublishing" family. Prefixes are the conventional
 * ones; consumers match by URI.
 */
import { namespaceUri } from '../../rules/namespaces.js';

const BASE = 'http://schemas.microsoft.com/wsus/2005/04/CorporatePublishing/';

export const SDP_NS = {
  sdp: `${BASE}SoftwareDistributionPackage.xsd`,
  lar: namespaceUri('lar', 'publishing'),
  bar: namespaceUri('bar', 'publishing'),
  msiar: namespaceUri('msiar', 'publishing'),
  cmd: `${BASE}Installers/CommandLineInstallation.xsd`,
  msi: `${BASE}Installers/MsiInstallation.xsd`,
} as const;

export const SMC_NS =
  'http://schemas.microsoft.com/sms/2005/04/CorporatePublishing/SystemsManagementCatalog.xsd';

/** `xmlns:p="uri"` for every prefix above, for a document's root element. */
export function namespaceDeclarations(extra: Record<string, string> = {}): Array<[string, string]> {
  return [
    ...Object.entries(extra).map(([p, uri]): [string, string] => [`xmlns:${p}`, uri]),
    ...Object.entries(SDP_NS).map(([p, uri]): [string, string] => [`xmlns:${p}`, uri]),
  ];
}
