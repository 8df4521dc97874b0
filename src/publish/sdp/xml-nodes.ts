/**
 * Namespaces of the SDP documents (System Center Updates Publisher schemas, the publishing
 * family) and small helpers over the safe-xml tree, so the mapping code reads by element name.
 */
import type { XmlElement } from '../../rules/safe-xml.js';

const BASE = 'http://schemas.microsoft.com/wsus/2005/04/CorporatePublishing/';
export const NS = {
  sdp: `${BASE}SoftwareDistributionPackage.xsd`,
  cmd: `${BASE}Installers/CommandLineInstallation.xsd`,
  msi: `${BASE}Installers/MsiInstallation.xsd`,
  msp: `${BASE}Installers/MspInstallation.xsd`,
  smc: 'http://schemas.microsoft.com/sms/2005/04/CorporatePublishing/SystemsManagementCatalog.xsd',
} as const;

/** What could not be carried over into the manifest, by element or attribute name. */
export interface Unmapped {
  name: string;
  /** Where in the document, e.g. "InstallableItem[0].InstallProperties". */
  path: string;
  reason: string;
}

export function children(parent: XmlElement, uri: string, local: string): XmlElement[] {
  return parent.children.filter((c) => c.uri === uri && c.local === local);
}

export function child(parent: XmlElement, uri: string, local: string): XmlElement | undefined {
  return parent.children.find((c) => c.uri === uri && c.local === local);
}

export function attr(element: XmlElement, name: string): string | undefined {
  return element.attributes.find((a) => a.uri === '' && a.local === name)?.value;
}

export function text(element: XmlElement | undefined): string | undefined {
  const value = element?.text.trim();
  return value === undefined || value === '' ? undefined : value;
}

export function qualifiedName(element: XmlElement): string {
  const prefixes: Record<string, string> = {
    [NS.sdp]: 'sdp',
    [NS.cmd]: 'cmd',
    [NS.msi]: 'msi',
    [NS.msp]: 'msp',
    [NS.smc]: 'smc',
  };
  const prefix = prefixes[element.uri] ?? element.prefix;
  return prefix === '' ? element.local : `${prefix}:${element.local}`;
}
