/**
 * `upcat import-catalog` as a service: map every package of a vendor catalog, check each
 * manifest as publish would (schema and rule vocabulary; relationships are checked by publish
 * itself), and, unless it is a dry run, publish those whose payload file is at hand. A vendor
 * catalog carries metadata only: payloads are looked up by their OriginFile name in a folder.
 *
 * The catalog is read as a stream, one package at a time, twice when publishing: the first pass
 * maps and checks every package, so that a catalog that cannot be read (not well formed, a
 * DOCTYPE) is refused before anything is published, as when it was parsed whole; the second
 * maps the planned packages again and publishes them. Holding their manifests between the
 * passes instead would make memory grow with the catalog again.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { errnoCode, invalidInput, isUpcatError, UpcatError } from '../../errors.js';
import path from 'node:path';
import { parseManifest } from '../../catalog/manifest.js';
import type { PublishService } from '../publish-service.js';
import { normalizeRules } from '../rules-check.js';
import { CATALOG_LIMITS, readCatalog } from './read.js';
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
  /** Only `publish` is used: any object that has it will do. */
  publisher?: Pick<PublishService, 'publish'>;
  actor?: string;
}

/** Something that can be read from the start as many times as needed. */
export type CatalogSource = () => AsyncIterable<string> | Iterable<string>;

/** A catalog already held as text. */
export function importCatalogXml(
  xml: string,
  options: CatalogImportOptions,
  label = 'catalog',
): Promise<CatalogImportResult> {
  return importCatalogFrom(() => [xml], options, label);
}

/** A catalog file, streamed: memory stays bounded by its largest package. */
export async function importCatalogFile(
  file: string,
  options: CatalogImportOptions,
  label = `catalog ${file}`,
): Promise<CatalogImportResult> {
  await checkCatalogFile(file);
  // 1 MiB reads: few enough to be cheap, small next to the packages' own memory.
  const source = () => createReadStream(file, { encoding: 'utf8', highWaterMark: 1 << 20 });
  return importCatalogFrom(source, options, label);
}

export async function importCatalogFrom(
  source: CatalogSource,
  options: CatalogImportOptions,
  label = 'catalog',
): Promise<CatalogImportResult> {
  const packages: PackageOutcome[] = [];
  for await (const sdp of readCatalog(source(), label)) packages.push(check(sdp));
  if (!options.dryRun && packages.some((p) => p.status === 'planned')) {
    await publishPlanned(source, packages, options, label);
  }
  return { dryRun: options.dryRun, summary: summarize(packages), packages };
}

/** The second pass: each package must be the one the first pass checked, in the same place. */
async function publishPlanned(
  source: CatalogSource,
  packages: PackageOutcome[],
  options: CatalogImportOptions,
  label: string,
): Promise<void> {
  let index = 0;
  for await (const sdp of readCatalog(source(), label)) {
    const outcome = packages[index];
    index += 1;
    if (outcome === undefined) break;
    if (outcome.status !== 'planned') continue;
    if (outcome.packageId !== (sdp.packageId ?? null)) break;
    await publish(sdp, outcome, options);
  }
  for (const outcome of packages) {
    if (outcome.status !== 'planned') continue;
    outcome.status = 'failed';
    outcome.message = `${label} changed while it was being imported; not published`;
  }
}

async function checkCatalogFile(file: string): Promise<void> {
  let size: number;
  try {
    const info = await stat(file);
    if (info.isDirectory()) throw invalidInput(`catalog ${file} is a directory`);
    size = info.size;
  } catch (err) {
    if (isUpcatError(err)) throw err;
    if (errnoCode(err) === 'ENOENT') throw invalidInput(`catalog ${file} does not exist`);
    throw invalidInput(`cannot read catalog ${file}: ${(err as Error).message}`);
  }
  if (size > CATALOG_LIMITS.maxBytes) {
    throw new UpcatError(
      'too_large',
      `catalog ${file} is larger than the limit of ${CATALOG_LIMITS.maxBytes} bytes`,
      { details: { limit: CATALOG_LIMITS.maxBytes } },
    );
  }
}

/** What publish would say of the manifest, before any payload is involved. */
function check(sdp: SdpImport): PackageOutcome {
  // A copy: strings taken from the XML can be slices that keep the whole package's text alive,
  // and the outcomes are held until the end, so they must not hold any package.
  return structuredClone({ ...sdpReportJson(sdp), ...verdict(sdp) });
}

function verdict(sdp: SdpImport): Pick<PackageOutcome, 'status' | 'message'> {
  if (sdp.manifest === undefined) return { status: 'invalid', message: sdp.errors.join('; ') };
  try {
    normalizeRules(parseManifest(sdp.manifest));
    return { status: 'planned' };
  } catch (err) {
    if (!isUpcatError(err)) throw err;
    return { status: 'invalid', message: err.message };
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
