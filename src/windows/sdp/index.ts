/** SDP and SystemsManagementCatalog export (issue 11 item 8); import is in src/publish/sdp/. */
export {
  exportCatalog,
  exportOptionsOf,
  exportSdp,
  type CatalogExportResult,
  type SdpExportResult,
} from './export-service.js';
export { catalogDocument, sdpDocument, type CatalogDocument } from './document.js';
export { loadCatalog, loadRevision, type CatalogFilter } from './load.js';
export type { ExportOptions, ExportRevision, LeftOut } from './model.js';
