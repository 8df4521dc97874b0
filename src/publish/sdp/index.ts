/** SDP import (and export): System Center Updates Publisher documents <-> publish manifests. */
export {
  importCatalog,
  importSdp,
  looksLikeSdp,
  readCatalog,
  sdpDocumentKind,
  CATALOG_LIMITS,
} from './read.js';
export { sdpToManifest, type SdpImport } from './to-manifest.js';
export type { Unmapped } from './xml-nodes.js';
export { NS as SDP_NAMESPACES } from './xml-nodes.js';
export { sdpReportJson, sdpReportLines, type SdpReportJson } from './report.js';
export {
  importCatalogFile,
  importCatalogFrom,
  importCatalogXml,
  type CatalogImportOptions,
  type CatalogSource,
  type CatalogImportResult,
  type CatalogImportSummary,
  type ImportDeps,
  type PackageOutcome,
  type PackageStatus,
} from './catalog-import.js';
export type { VendorMetadata, OriginFile, InstallProperties } from './vendor-metadata.js';
export { DEFAULT_FETCH, type FetchOptions } from './fetch.js';
