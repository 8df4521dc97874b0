/**
 * Reading SDP documents from text: a single SoftwareDistributionPackage, or a vendor's
 * SystemsManagementCatalog holding many (whose smc:SoftwareDistributionPackage children hold
 * the same sdp: elements). Parsed with safe-xml: no DOCTYPE, no entity ever expanded, bounded
 * size, depth and element count. Vendor catalogs are large, so they are read one package at a
 * time, each with safe-xml's checks (catalog-split.ts finds the package boundaries).
 */
import { invalidInput, UpcatError } from '../../errors.js';
import { parseXml, type XmlElement } from '../../rules/safe-xml.js';
import { CatalogSplitter, type CatalogPiece } from './catalog-split.js';
import { parsePieceXml } from './piece-parser.js';
import { requireSdpRoot, sdpToManifest, type SdpImport } from './to-manifest.js';
import { vendorFieldNames } from './vendor-metadata.js';
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
  const sdp = sdpToManifest(root);
  // One SDP published as a manifest keeps what the manifest holds; the vendor metadata that
  // import-catalog stores (vendor_revisions) is reported here, by name, as not carried.
  for (const name of vendorFieldNames(sdp.vendor)) {
    sdp.unmapped.push({
      name,
      path: 'SoftwareDistributionPackage',
      reason: 'not kept by publish --manifest (import-catalog keeps it)',
    });
  }
  return sdp;
}

/**
 * A catalog is read one package at a time (catalog-split.ts), so its size bounds time only;
 * memory is bounded by the largest package, hence the tighter per-package limits (a parsed
 * package takes about 20 times its size: the largest real one at hand, 180 KB and about 1,000
 * elements, takes 3.6 MB).
 */
export const CATALOG_LIMITS = {
  maxBytes: 512 * 1024 * 1024,
  maxDepth: 256,
  maxPackageBytes: 4 * 1024 * 1024,
  maxPackageElements: 20_000,
};

/** Every package of a SystemsManagementCatalog held as text, mapped one by one. */
export function importCatalog(xml: string, label = 'catalog'): SdpImport[] {
  const splitter = newSplitter();
  const first = splitter.push(xml);
  checkRoot(splitter, label);
  const pieces = first.concat(splitter.end());
  checkRoot(splitter, label);
  return [...mapPieces(pieces, label, { next: 0 })];
}

/**
 * Every package of a SystemsManagementCatalog, mapped as its text arrives: only the package
 * being read is held, whatever the size of the catalog. Throws (UpcatError) on a document that
 * is not a catalog, is not well formed, or holds a DOCTYPE, at the point where it is found.
 */
export async function* readCatalog(
  source: AsyncIterable<string> | Iterable<string>,
  label = 'catalog',
): AsyncGenerator<SdpImport, void, undefined> {
  const splitter = newSplitter();
  const counter = { next: 0 };
  for await (const chunk of source) {
    const pieces = splitter.push(chunk);
    checkRoot(splitter, label);
    yield* mapPieces(pieces, label, counter);
  }
  const last = splitter.end();
  checkRoot(splitter, label);
  yield* mapPieces(last, label, counter);
}

function newSplitter(): CatalogSplitter {
  return new CatalogSplitter({
    maxBytes: CATALOG_LIMITS.maxBytes,
    maxDepth: CATALOG_LIMITS.maxDepth,
    maxPieceChars: CATALOG_LIMITS.maxPackageBytes,
  });
}

/** Refuses anything but a catalog as soon as its root element has been read. */
function checkRoot(splitter: CatalogSplitter, label: string): void {
  const root = splitter.root;
  if (root === undefined || sdpDocumentKind(root) === 'catalog') return;
  throw invalidInput(
    `${label}: expected an smc:SystemsManagementCatalog document (namespace ${NS.smc}), got ${qualifiedName(root)}`,
  );
}

/** Parses and maps each piece that is a package; other children of the root are skipped. */
function* mapPieces(
  pieces: readonly CatalogPiece[],
  label: string,
  counter: { next: number },
): Generator<SdpImport, void, undefined> {
  for (const piece of pieces) {
    const element = parsePiece(piece, label);
    const isPackage =
      element.local === 'SoftwareDistributionPackage' &&
      (element.uri === NS.smc || element.uri === NS.sdp);
    if (!isPackage) continue;
    const path = `SystemsManagementCatalog.SoftwareDistributionPackage[${counter.next}]`;
    counter.next += 1;
    yield sdpToManifest(element, path);
  }
}

/** safe-xml's checks, per package; errors say which child of the catalog was at fault. */
function parsePiece(piece: CatalogPiece, label: string): XmlElement {
  try {
    // The catalog's own parser (piece-parser.ts): the same tree as parseXml, several times faster.
    return parsePieceXml(piece.xml, {
      maxBytes: CATALOG_LIMITS.maxPackageBytes,
      maxDepth: CATALOG_LIMITS.maxDepth - 1,
      maxElements: CATALOG_LIMITS.maxPackageElements,
    });
  } catch (err) {
    if (!(err instanceof UpcatError)) throw err;
    throw new UpcatError(err.code, `${label}: child element ${piece.index + 1}: ${err.message}`, {
      cause: err,
      ...(err.details === undefined ? {} : { details: { ...err.details } }),
    });
  }
}
