/**
 * `upcat export sdp` and `upcat export catalog` as services (issue 11 item 8): load, write the
 * document, and either return it or put it at a new path (never replacing a file: the path is
 * checked before any work and claimed with an exclusive link at the end).
 */
import { lstat } from 'node:fs/promises';
import type { SiteConfig } from '../../config/schema.js';
import { conflict, errnoCode, invalidInput } from '../../errors.js';
import { writeFileAtomic } from '../../signing/files.js';
import type { Db } from '../../storage/db.js';
import { catalogDocument, sdpDocument, type CatalogPackage } from './document.js';
import { loadCatalog, loadRevision, type CatalogFilter } from './load.js';
import type { ExportOptions, LeftOut } from './model.js';

export function exportOptionsOf(config: SiteConfig): ExportOptions {
  const options: ExportOptions = { vendorName: config.site.name };
  if (config.server.publicUrl !== undefined) options.contentBaseUrl = config.server.publicUrl;
  return options;
}

export interface SdpExportResult {
  updateId: string;
  revision: number;
  notes: string[];
  /** The document, when no output file was given. */
  xml?: string;
  out?: string;
}

export async function exportSdp(
  db: Db,
  options: ExportOptions,
  request: { updateId: string; revision?: number; out?: string },
): Promise<SdpExportResult> {
  if (request.out !== undefined) await requireAbsent(request.out);
  const rev = await loadRevision(db, request.updateId, request.revision);
  const doc = sdpDocument(rev, options);
  const result: SdpExportResult = {
    updateId: rev.updateId,
    revision: rev.revision,
    notes: doc.notes,
  };
  if (request.out === undefined) return { ...result, xml: doc.xml };
  await writeNew(request.out, doc.xml);
  return { ...result, out: request.out };
}

export interface CatalogExportResult {
  packages: CatalogPackage[];
  leftOut: LeftOut[];
  xml?: string;
  out?: string;
  bytes: number;
}

export async function exportCatalog(
  db: Db,
  options: ExportOptions,
  request: CatalogFilter & { out?: string },
): Promise<CatalogExportResult> {
  if (request.out !== undefined) await requireAbsent(request.out);
  const doc = catalogDocument(await loadCatalog(db, request), options);
  const xml = doc.chunks.join('');
  const result = { packages: doc.packages, leftOut: doc.leftOut, bytes: Buffer.byteLength(xml) };
  if (request.out === undefined) return { ...result, xml };
  await writeNew(request.out, xml);
  return { ...result, out: request.out };
}

async function requireAbsent(file: string): Promise<void> {
  try {
    await lstat(file);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return;
    throw err;
  }
  throw conflict(`${file} already exists; choose a new output path`);
}

async function writeNew(file: string, data: string): Promise<void> {
  try {
    await writeFileAtomic(file, data, { exclusive: true });
  } catch (err) {
    if (errnoCode(err) === 'EEXIST')
      throw conflict(`${file} already exists; choose a new output path`);
    if (errnoCode(err) === 'ENOENT') throw invalidInput(`${file}: its folder does not exist`);
    throw err;
  }
}
