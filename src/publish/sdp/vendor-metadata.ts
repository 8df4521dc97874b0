/**
 * What a vendor's SDP says that the publish manifest has no field for, kept as given
 * (issue 11 item 1): the vendor, its product names, dates, severity, KB article, bulletin, CVEs,
 * URLs, the install and uninstall properties (RebootBehavior above all), and the OriginFile the
 * payload must match (SoftwareDistributionPackage.xsd: Properties, UpdateSpecificData,
 * InstallableItem/InstallProperties, InstallableItem/OriginFile; see ../shared/research/interop.md
 * §1.2). Stored as JSON on `vendor_revisions` (migration 010).
 */
import type { XmlElement } from '../../rules/safe-xml.js';
import { attr, child, children, NS, text } from './xml-nodes.js';

export type RebootBehavior = 'NeverReboots' | 'AlwaysRequiresReboot' | 'CanRequestReboot';

export interface InstallProperties {
  rebootBehavior?: string;
  impact?: string;
  canRequestUserInput?: boolean;
  requiresNetworkConnectivity?: boolean;
}

/** sdp:OriginFile: the payload as the vendor published it. */
export interface OriginFile {
  fileName: string;
  /** Hex SHA-1, from the base64 Digest attribute. */
  sha1: string;
  size: number;
  modified?: string;
  uri?: string;
  /** Hex SHA-256, from an sdp:AdditionalDigest Algorithm="SHA256". */
  sha256?: string;
}

export interface VendorMetadata {
  vendor?: string;
  productNames: string[];
  creationDate?: string;
  publicationState?: string;
  updateType?: string;
  canSourceBeRequired?: boolean;
  moreInfoUrls: string[];
  supportUrl?: string;
  severity?: string;
  kbArticleId?: string;
  securityBulletinId?: string;
  cveIds: string[];
  /** The vendor's own version text when it is not a plain number (e.g. "16.1.3.1.A11-1"). */
  vendorVersion?: string;
  installProperties?: InstallProperties;
  uninstallProperties?: InstallProperties;
  originFile?: OriginFile;
  /** Return codes listed more than once: the first entry is used. */
  duplicateReturnCodes: number[];
}

/** Reads the metadata; problems with the OriginFile are returned, not thrown. */
export function readVendorMetadata(
  root: XmlElement,
  path: string,
): { metadata: VendorMetadata; errors: string[] } {
  const errors: string[] = [];
  const metadata: VendorMetadata = {
    productNames: [],
    moreInfoUrls: [],
    cveIds: [],
    duplicateReturnCodes: [],
  };
  const properties = child(root, NS.sdp, 'Properties');
  if (properties !== undefined) readProperties(properties, metadata);
  const data = child(root, NS.sdp, 'UpdateSpecificData');
  if (data !== undefined) {
    set(metadata, 'severity', attr(data, 'MsrcSeverity'));
    set(metadata, 'securityBulletinId', text(child(data, NS.sdp, 'SecurityBulletinID')));
    set(metadata, 'kbArticleId', text(child(data, NS.sdp, 'KBArticleID')));
    metadata.cveIds = children(data, NS.sdp, 'CveID').flatMap((c) => text(c) ?? []);
  }
  const item = child(root, NS.sdp, 'InstallableItem');
  if (item !== undefined) {
    const install = child(item, NS.sdp, 'InstallProperties');
    if (install !== undefined) metadata.installProperties = installProperties(install);
    const uninstall = child(item, NS.sdp, 'UninstallProperties');
    if (uninstall !== undefined) metadata.uninstallProperties = installProperties(uninstall);
    const origin = child(item, NS.sdp, 'OriginFile');
    if (origin !== undefined) {
      const at = `${path}.InstallableItem[0].OriginFile`;
      const read = originFile(origin, at);
      if (typeof read === 'string') errors.push(read);
      else metadata.originFile = read;
    }
  }
  return { metadata, errors };
}

function readProperties(properties: XmlElement, metadata: VendorMetadata): void {
  set(metadata, 'vendor', attr(properties, 'VendorName'));
  set(metadata, 'creationDate', attr(properties, 'CreationDate'));
  set(metadata, 'publicationState', attr(properties, 'PublicationState'));
  set(metadata, 'updateType', attr(properties, 'UpdateType'));
  const canSource = attr(properties, 'CanSourceBeRequired');
  if (canSource !== undefined) metadata.canSourceBeRequired = xsdBoolean(canSource);
  metadata.moreInfoUrls = children(properties, NS.sdp, 'MoreInfoUrl').flatMap((u) => text(u) ?? []);
  set(metadata, 'supportUrl', text(child(properties, NS.sdp, 'SupportUrl')));
  metadata.productNames = children(properties, NS.sdp, 'ProductName').flatMap((p) => text(p) ?? []);
}

function installProperties(element: XmlElement): InstallProperties {
  const out: InstallProperties = {};
  // The XSD default is CanRequestReboot; it is kept only when written, so export writes it back as read.
  const reboot = attr(element, 'RebootBehavior');
  if (reboot !== undefined) out.rebootBehavior = reboot;
  const impact = attr(element, 'Impact');
  if (impact !== undefined) out.impact = impact;
  const input = attr(element, 'CanRequestUserInput');
  if (input !== undefined) out.canRequestUserInput = xsdBoolean(input);
  const network = attr(element, 'RequiresNetworkConnectivity');
  if (network !== undefined) out.requiresNetworkConnectivity = xsdBoolean(network);
  return out;
}

/** sdp:OriginFile (SoftwareDistributionPackage.xsd): Digest (base64 SHA-1), FileName, Size required. */
function originFile(element: XmlElement, at: string): OriginFile | string {
  const fileName = attr(element, 'FileName');
  const digest = attr(element, 'Digest');
  const sizeText = attr(element, 'Size');
  if (fileName === undefined || digest === undefined || sizeText === undefined) {
    return `${at}: FileName, Digest and Size are required`;
  }
  const sha1 = base64Hex(digest, 20);
  if (sha1 === undefined) return `${at}: Digest "${digest}" is not the base64 of a 20-byte SHA-1`;
  if (!/^\d{1,15}$/.test(sizeText.trim()) || Number(sizeText) <= 0) {
    return `${at}: Size "${sizeText}" is not a positive number of bytes`;
  }
  const out: OriginFile = { fileName, sha1, size: Number(sizeText) };
  set(out, 'modified', attr(element, 'Modified'));
  set(out, 'uri', attr(element, 'OriginUri'));
  for (const extra of children(element, NS.sdp, 'AdditionalDigest')) {
    const value = text(extra);
    if (attr(extra, 'Algorithm')?.toUpperCase() !== 'SHA256' || value === undefined) continue;
    const sha256 = base64Hex(value, 32);
    if (sha256 === undefined)
      return `${at}: AdditionalDigest SHA256 "${value}" is not 32 bytes of base64`;
    out.sha256 = sha256;
  }
  return out;
}

function base64Hex(value: string, bytes: number): string | undefined {
  const trimmed = value.trim();
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(trimmed)) return undefined;
  const raw = Buffer.from(trimmed, 'base64');
  return raw.length === bytes ? raw.toString('hex') : undefined;
}

function xsdBoolean(value: string): boolean {
  return value === 'true' || value === '1';
}

function set<T extends object, K extends keyof T>(
  target: T,
  key: K,
  value: T[K] | undefined,
): void {
  if (value !== undefined) target[key] = value;
}

/**
 * The vendor fields present, by element or attribute name: what `upcat publish --manifest x.sdp`
 * (one SDP as a publish manifest, outside any catalog import) cannot keep, so it reports them.
 */
export function vendorFieldNames(metadata: VendorMetadata): string[] {
  const present: Array<[string, boolean]> = [
    ['VendorName', metadata.vendor !== undefined],
    ['CreationDate', metadata.creationDate !== undefined],
    ['sdp:MoreInfoUrl', metadata.moreInfoUrls.length > 0],
    ['sdp:SupportUrl', metadata.supportUrl !== undefined],
    ['MsrcSeverity', metadata.severity !== undefined],
    ['sdp:SecurityBulletinID', metadata.securityBulletinId !== undefined],
    ['sdp:CveID', metadata.cveIds.length > 0],
    ['sdp:KBArticleID', metadata.kbArticleId !== undefined],
    ['sdp:InstallProperties', metadata.installProperties !== undefined],
    ['sdp:UninstallProperties', metadata.uninstallProperties !== undefined],
    ['sdp:OriginFile', metadata.originFile !== undefined],
  ];
  return present.filter(([, is]) => is).map(([name]) => name);
}
