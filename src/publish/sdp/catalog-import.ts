/**
 * `upcat import-catalog` as a service: map every package of a vendor catalog, check each
 * manifest as publish would (schema and rule vocabulary; relationships are checked by publish
 * itself), and, unless it is a dry run, publish those whose payload file is at hand. A vendor
 * catalog carries metadata only: payloads are looked up by their OriginFile name in a folder.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { parseManifest } from '../../catalog/manifest.js';
import { isUpcatError } from '../../errors.js';
import type { PublishService } from '../publish-service.js';
import { normalizeRules } from '../rules-check.js';
import { importCatalog } from './read.js';
import { sdpReportJson, type SdpReportJson } from './report.js';
import type { SdpImport } from './to-manifest.js';

export type PackageStatus =
  'planned' | 'invalid' | 'published' | 'unchanged' | 'skipped' | 'failed';

export interface PackageOutcome extends SdpReportJson {
  status: PackageStatus;
  /** Why a package is invalid, skipped or failed. */
  message?: string;
  updateId?: string;
  revision?: number;
}

export interface CatalogImportSummary {
  packages: number;
  mapped: number;
  invalid: number;
  published: number;
  unchanged: number;
  skipped: number;
  failed: number;
  /** Elements and attributes not mapped, by name, over all packages. */
  unmappedByName: Record<string, number>;
  unsupportedRulesByName: Record<string, number>;
}

export interface CatalogImportResult {
  dryRun: boolean;
  summary: CatalogImportSummary;
  packages: PackageOutcome[];
}

export interface CatalogImportOptions {
  /** Publish nothing: only map and check. */
  dryRun: boolean;
  /** Where payload files are, by OriginFile name (needed unless dry run). */
  payloadDir?: string;
  publisher?: PublishService;
  actor?: string;
}

export async function importCatalogXml(
  xml: string,
  options: CatalogImportOptions,
  label = 'catalog',
): Promise<CatalogImportResult> {
  const packages: PackageOutcome[] = [];
  for (const sdp of importCatalog(xml, label)) {
    const outcome = check(sdp);
    if (outcome.status === 'planned' && !options.dryRun) await publish(sdp, outcome, options);
    packages.push(outcome);
  }
  return { dryRun: options.dryRun, summary: summarize(packages), packages };
}

/** What publish would say of the manifest, before any payload is involved. */
function check(sdp: SdpImport): PackageOutcome {
  const report = sdpReportJson(sdp);
  if (sdp.manifest === undefined) {
    return { ...report, status: 'invalid', message: sdp.errors.join('; ') };
  }
  try {
    normalizeRules(parseManifest(sdp.manifest));
    return { ...report, status: 'planned' };
  } catch (err) {
    if (!isUpcatError(err)) throw err;
    return { ...report, status: 'invalid', message: err.message };
  }
}

async function publish(
  sdp: SdpImport,
  outcome: PackageOutcome,
  options: CatalogImportOptions,
): Promise<void> {
  const { publisher, payloadDir } = options;
  const fileName = sdp.fileName;
  if (publisher === undefined || payloadDir === undefined || fileName === undefined) {
    outcome.status = 'skipped';
    outcome.message = 'no payload folder or no file name';
    return;
  }
  const file = path.join(payloadDir, path.basename(fileName));
  try {
    if (!(await stat(file)).isFile()) throw new Error('not a file');
  } catch {
    outcome.status = 'skipped';
    outcome.message = `payload ${fileName} is not in ${payloadDir}`;
    return;
  }
  try {
    const result = await publisher.publish({
      source: createReadStream(file),
      fileName: path.basename(fileName),
      manifest: sdp.manifest,
      actor: options.actor ?? 'import-catalog',
    });
    outcome.status = result.created ? 'published' : 'unchanged';
    outcome.updateId = result.updateId;
    outcome.revision = result.revision;
  } catch (err) {
    if (!isUpcatError(err)) throw err;
    outcome.status = 'failed';
    outcome.message = err.message;
  }
}

function summarize(packages: readonly PackageOutcome[]): CatalogImportSummary {
  const count = (status: PackageStatus) => packages.filter((p) => p.status === status).length;
  const tally = (names: string[]) => {
    const out: Record<string, number> = {};
    for (const name of names) out[name] = (out[name] ?? 0) + 1;
    return out;
  };
  return {
    packages: packages.length,
    mapped: packages.filter((p) => p.mapped).length,
    invalid: count('invalid'),
    published: count('published'),
    unchanged: count('unchanged'),
    skipped: count('skipped'),
    failed: count('failed'),
    unmappedByName: tally(packages.flatMap((p) => p.unmapped.map((u) => u.name))),
    unsupportedRulesByName: tally(packages.flatMap((p) => p.unsupportedRules.map((u) => u.name))),
  };
}
