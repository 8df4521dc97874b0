/**
 * Reading SDP documents from text: a single SoftwareDistributionPackage, or a vendor's
 * SystemsManagementCatalog holding many (whose smc:SoftwareDistributionPackage children hold
 * the same sdp: elements). Parsed with safe-xml: no DOCTYPE, no entity ever expanded, bounded
 * size, depth and element count. Vendor catalogs are large, so their limits are wider.
 */
import { invalidInput } from '../../errors.js';
import { parseXml, type XmlElement } from '../../rules/safe-xml.js';
import { requireSdpRoot, sdpToManifest, type SdpImport } from './to-manifest.js';
import { NS, qualifiedName } from './xml-nodes.js';

export type SdpDocumentKind = 'sdp' | 'catalog' | 'other';

/** Detects the document type from its root element, without other checks. */
export function sdpDocumentKind(root: XmlElement): SdpDocumentKind {
  if (root.uri === NS.sdp && root.local === 'SoftwareDistributionPackage') return 'sdp';
  if (root.uri === NS.smc && root.local === 'SystemsManagementCatalog') return 'catalog';
  return 'other';
}

/** Cheap check on the text: does the root element look like an SDP? (For `--manifest`.) */
export function looksLikeSdp(raw: string): boolean {
  const text = raw.replace(/^\uFEFF/, '').trimStart();
  if (!text.startsWith('<')) return false;
  const start = /<(?!\?|!)([A-Za-z_][\w.-]*:)?SoftwareDistributionPackage[\s>/]/.exec(text);
  if (start === null) return false;
  // The first element of the document must be it.
  const first = /<(?!\?|!)/.exec(text);
  return first !== null && first.index === start.index;
}

export function importSdp(xml: string, label = 'SDP'): SdpImport {
  const root = parseXml(xml);
  requireSdpRoot(root, label);
  return sdpToManifest(root);
}

export const CATALOG_LIMITS = {
  maxBytes: 512 * 1024 * 1024,
  maxDepth: 256,
  maxElements: 20_000_000,
};

/** Every package of a SystemsManagementCatalog, mapped one by one. */
export function importCatalog(xml: string, label = 'catalog'): SdpImport[] {
  const root = parseXml(xml, CATALOG_LIMITS);
  if (sdpDocumentKind(root) !== 'catalog') {
    throw invalidInput(
      `${label}: expected an smc:SystemsManagementCatalog document (namespace ${NS.smc}), got ${qualifiedName(root)}`,
    );
  }
  return root.children
    .filter(
      (c) => c.local === 'SoftwareDistributionPackage' && (c.uri === NS.smc || c.uri === NS.sdp),
    )
    .map((c, i) => sdpToManifest(c, `SystemsManagementCatalog.SoftwareDistributionPackage[${i}]`));
}
