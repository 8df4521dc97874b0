/**
 * `upcat import-catalog` as a service (issue 11 items 1-4): map every package of a vendor
 * catalog, check it as publish would, then store the packages in batches.
 *
 * 1. The catalog is read once, as a stream, one package at a time. Each package is mapped and
 *    checked; those that can be stored are spooled as JSON lines to a temporary file, so memory
 *    stays bounded by the largest package and a catalog that cannot be read (not well formed, a
 *    DOCTYPE) is refused before anything is stored.
 * 2. The spool is read back in batches. For each batch the payloads are staged and checked
 *    against the vendor's digests (payloads.ts), then one transaction stores the batch under one
 *    new catalog version, each package in a savepoint of its own: a failing package rolls back
 *    alone, and a crash before the commit leaves none of the batch. The TUF repository then
 *    follows the new catalog version.
 *
 * `--dry-run` runs the very same steps inside one transaction that is rolled back at the end
 * (and writes no pool file, document or signature), so its per-package outcome is what a real
 * run on the same site would give, failures included. When no package can bring content, the
 * rows (which decide nothing then) are not written at all: see cannotBringContent.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { errnoCode, invalidInput, isUpcatError, UpcatError } from '../../errors.js';
import type { SiteSigning } from '../../signing/site-signing.js';
import type { TargetChanges } from '../../signing/tuf-targets.js';
import type { BlobStore } from '../../storage/blobs/store.js';
import * as repo from '../../storage/catalog-repo.js';
import { writeCatalog } from '../../storage/catalog-writer.js';
import type { Db } from '../../storage/db.js';
import { revisionTargets } from '../catalog-targets.js';
import type { PayloadLimits } from '../payload-check.js';
import type { TufPublisher } from '../tuf-publisher.js';
import type { FetchOptions } from './fetch.js';
import { preparePayload, type PreparedPayload } from './payloads.js';
import { CATALOG_LIMITS, readCatalog } from './read.js';
import { sdpReportJson, type SdpReportJson } from './report.js';
import type { SdpImport } from './to-manifest.js';
import { toVendorPackage, type VendorPackage } from './vendor-package.js';
import { Spool, type SpooledPackage } from './spool.js';
import { BatchLookup, type NotedRevision } from './batch-lookup.js';
import {
  checkSelfReferences,
  decide,
  insertVendorRows,
  writeVendorRevision,
  type Written,
} from './vendor-writer.js';

export type PackageStatus =
  /** Mapped and checked; only a check without a site stops here. */
  | 'planned'
  /** Cannot be mapped or fails the manifest's checks. */
  | 'invalid'
  /** Stored with its payload. */
  | 'published'
  /** Stored without its payload (`--metadata-only`): not offered until the payload arrives. */
  | 'awaiting_content'
  /** Already stored as it is. */
  | 'unchanged'
  /** Could not be stored: a conflict with the site, a missing or mismatching payload. */
  | 'failed';

export interface PackageOutcome extends SdpReportJson {
  status: PackageStatus;
  /** Why a package is invalid or failed. */
  message?: string;
  updateId?: string;
  revision?: number;
}

export interface CatalogImportSummary {
  packages: number;
  mapped: number;
  invalid: number;
  published: number;
  awaitingContent: number;
  unchanged: number;
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

/** What storing needs from the site. */
export interface ImportDeps {
  db: Db;
  blobs: BlobStore;
  signing: SiteSigning | undefined;
  tuf: TufPublisher | undefined;
  limits: PayloadLimits;
  log?: Logger;
}

export interface CatalogImportOptions {
  /** Store nothing: run every step in a transaction that is rolled back. */
  dryRun: boolean;
  /** Packages whose payload is not at hand are stored awaiting content instead of failing. */
  metadataOnly?: boolean;
  /** Where payload files are, by OriginFile name. */
  payloadDir?: string;
  /** Fetch payloads from their OriginUri. */
  fetch?: FetchOptions;
  /** The site; without one, packages are only mapped and checked (status `planned`). */
  site?: ImportDeps;
  actor?: string;
  /** Packages per transaction. */
  batchSize?: number;
}

/** Something that can be read from the start. */
export type CatalogSource = () => AsyncIterable<string> | Iterable<string>;

const DEFAULT_BATCH = 200;

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
  await checkOptions(options);
  const spool = new Spool();
  try {
    const packages: PackageOutcome[] = [];
    const sha1s = new Set<string>();
    for await (const sdp of readCatalog(source(), label)) {
      const { outcome, pkg } = check(sdp);
      // Without a site nothing is stored, so nothing need be kept (the map-only pass).
      if (pkg !== undefined && options.site !== undefined) {
        await spool.write(packages.length, pkg);
        const sha1 = pkg.vendor.originFile?.sha1;
        if (sha1 !== undefined) sha1s.add(sha1);
      }
      packages.push(outcome);
    }
    await spool.close();
    if (options.site !== undefined && packages.some((p) => p.status === 'planned')) {
      await store(spool, packages, options, options.site, sha1s);
    }
    return { dryRun: options.dryRun, summary: summarize(packages), packages };
  } finally {
    await spool.remove();
  }
}

async function checkOptions(options: CatalogImportOptions): Promise<void> {
  const dir = options.payloadDir;
  if (dir === undefined) return;
  try {
    if (!(await stat(dir)).isDirectory())
      throw invalidInput(`payload folder ${dir} is not a folder`);
  } catch (err) {
    if (isUpcatError(err)) throw err;
    if (errnoCode(err) === 'ENOENT') throw invalidInput(`payload folder ${dir} does not exist`);
    throw invalidInput(`cannot read payload folder ${dir}: ${(err as Error).message}`);
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

/** What publish would say of the package, before the site or any payload is involved. */
function check(sdp: SdpImport): { outcome: PackageOutcome; pkg?: VendorPackage } {
  // A copy: strings taken from the XML can be slices that keep the whole package's text alive,
  // and the outcomes are held until the end, so they must not hold any package.
  const report = structuredClone(sdpReportJson(sdp));
  if (sdp.manifest === undefined) {
    return { outcome: { ...report, status: 'invalid', message: sdp.errors.join('; ') } };
  }
  try {
    const pkg = toVendorPackage(sdp.manifest, sdp.vendor, { mapped: true });
    checkSelfReferences(pkg);
    return { outcome: { ...report, status: 'planned', updateId: pkg.updateId }, pkg };
  } catch (err) {
    if (!isUpcatError(err)) throw err;
    return { outcome: { ...report, status: 'invalid', message: err.message } };
  }
}

interface Item extends SpooledPackage {
  payload?: PreparedPayload;
  /** Why no payload is at hand (missing file, failed fetch, wrong digest). */
  payloadProblem?: UpcatError;
}

/** Step 2: the batches, stored for real or in one transaction rolled back (dry run). */
async function store(
  spool: Spool,
  packages: PackageOutcome[],
  options: CatalogImportOptions,
  site: ImportDeps,
  sha1s: ReadonlySet<string>,
): Promise<void> {
  if (!options.dryRun && (site.signing === undefined || site.tuf === undefined)) {
    throw new UpcatError('conflict', 'this site has no signing keys yet: run "upcat init" first');
  }
  const size = options.batchSize ?? DEFAULT_BATCH;
  if (options.dryRun) {
    await rolledBack(site.db, async (trx) => {
      const simulated = (await cannotBringContent(trx, options, sha1s))
        ? new Map<string, NotedRevision>()
        : undefined;
      for await (const batch of spool.batches(size)) {
        await withPayloads(batch, options, site, () =>
          storeBatch(trx, batch, packages, options, site, simulated),
        );
      }
    });
    return;
  }
  for await (const batch of spool.batches(size)) {
    const stored = await withPayloads(batch, options, site, () =>
      writeCatalog(site.db, (trx) => storeBatch(trx, batch, packages, options, site)),
    );
    if (stored.version !== undefined) await advance(site, stored.version, stored.written);
  }
}

/** Stages the batch's payloads (outside the transaction in a real run), always discarding them after. */
async function withPayloads<T>(
  batch: Item[],
  options: CatalogImportOptions,
  site: ImportDeps,
  work: () => Promise<T>,
): Promise<T> {
  const sources = {
    ...(options.payloadDir === undefined ? {} : { dir: options.payloadDir }),
    ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
  };
  try {
    if (sources.dir !== undefined || sources.fetch !== undefined) {
      for (const item of batch) {
        try {
          const payload = await preparePayload(site, item.pkg, sources);
          if (payload !== undefined) item.payload = payload;
        } catch (err) {
          if (!isUpcatError(err)) throw err;
          item.payloadProblem = err;
        }
      }
    }
    return await work();
  } finally {
    // After a commit the staged files are already renamed into the pool: a no-op then.
    for (const item of batch) await item.payload?.staged.discard();
  }
}

/** One transaction: the catalog lock, one catalog version, a savepoint per package. */
async function storeBatch(
  trx: Knex.Transaction,
  batch: Item[],
  packages: PackageOutcome[],
  options: CatalogImportOptions,
  site: ImportDeps,
  /** Set when a dry run writes no rows: the revisions it would have written, by update. */
  simulated?: Map<string, NotedRevision>,
): Promise<{ version: number | undefined; written: Written[] }> {
  await repo.lockCatalog(trx);
  const actor = options.actor ?? 'import-catalog';
  const ctx = { pool: site.blobs, signing: site.signing, dryRun: options.dryRun, actor };
  let version: number | undefined;
  const written: Written[] = [];
  const lookup = await BatchLookup.read(
    trx,
    batch.map((item) => item.pkg),
  );
  // What earlier batches would have written, as the database would show it in a real run.
  for (const item of batch) {
    const noted = simulated?.get(item.pkg.updateId);
    if (noted !== undefined) lookup.noteRevision(noted);
  }
  for (const item of batch) {
    const outcome = packages[item.index];
    if (outcome === undefined) continue;
    try {
      if (item.payloadProblem !== undefined) throw item.payloadProblem;
      const decision = decide(lookup, item.pkg, item.payload !== undefined);
      if (decision.kind === 'unchanged') {
        setOutcome(
          outcome,
          decision.awaiting ? 'awaiting_content' : 'unchanged',
          item,
          decision.revision,
        );
        if (decision.awaiting) outcome.message = 'unchanged; still awaiting content';
        continue;
      }
      if (
        item.payload === undefined &&
        decision.pooled === undefined &&
        options.metadataOnly !== true
      ) {
        throw missingPayload(item.pkg, options);
      }
      if (simulated !== undefined) {
        // See cannotBringContent: the rows this package would write decide nothing.
        const noted = {
          updateId: item.pkg.updateId,
          product: item.pkg.manifest.product,
          contentKey: item.pkg.metadataKey,
          number: (decision.latest?.number ?? 0) + 1,
          awaiting: true,
        };
        lookup.noteRevision(noted);
        simulated.set(noted.updateId, noted);
        setOutcome(outcome, 'awaiting_content', item, noted.number);
        continue;
      }
      version ??= await repo.nextCatalogVersion(trx, { reason: 'import', actor });
      const at = version;
      const write = (q: Knex.Transaction) =>
        writeVendorRevision(q, item.pkg, decision, item.payload, at, ctx);
      // Metadata-only rows are plain inserts of checked values: only a database failure can stop
      // them, and that fails the batch. A package with content also writes its document and
      // signature, which may refuse it alone: that one gets a savepoint.
      const withContent = item.payload !== undefined || decision.pooled !== undefined;
      const done = withContent ? await trx.transaction(write) : await write(trx);
      written.push(done);
      lookup.noteWritten(item.pkg, done.revision, done.file, done.pendingTargets);
      setOutcome(outcome, done.awaiting ? 'awaiting_content' : 'published', item, done.revision);
    } catch (err) {
      if (!isUpcatError(err)) throw err;
      outcome.status = 'failed';
      outcome.message = err.message;
    }
  }
  await insertVendorRows(
    trx,
    written.map((w) => w.vendorRow),
  );
  // One audit row per batch, naming every revision it stored.
  if (written.length > 0) {
    await repo.audit(trx, {
      actor,
      action: 'import-catalog',
      target: `catalog version ${version ?? '?'}`,
      detail: {
        revisions: written.map(
          (w) => `${w.updateId}/${w.revision}${w.awaiting ? ' awaiting content' : ''}`,
        ),
      },
    });
  }
  return { version, written };
}

/**
 * Whether every package of this dry run is bound to be stored metadata-only: `--metadata-only`,
 * no payload folder, no fetch, and no file in the pool with a SHA-1 the catalog names. Then each
 * package's outcome is decided by `decide()` on the batch's lookup alone, and its rows (plain
 * inserts of values already checked against the columns' bounds) could only fail as a database
 * failure, which fails the whole run in either mode. So the dry run skips those writes (about a
 * third of its CPU time, docs/BENCHMARKS.md) and keeps the lookup current instead, as a real
 * run does after each write. Anything that could bring content takes the full rolled-back path.
 */
async function cannotBringContent(
  trx: Knex.Transaction,
  options: CatalogImportOptions,
  sha1s: ReadonlySet<string>,
): Promise<boolean> {
  if (options.metadataOnly !== true) return false;
  if (options.payloadDir !== undefined || options.fetch !== undefined) return false;
  const list = [...sha1s];
  for (let i = 0; i < list.length; i += 500) {
    const hit = await trx('files as f')
      .join('blobs as b', 'b.sha256', 'f.sha256')
      .whereIn('b.sha1', list.slice(i, i + 500))
      .first('f.sha256');
    if (hit !== undefined) return false;
  }
  return true;
}

function setOutcome(outcome: PackageOutcome, status: PackageStatus, item: Item, revision: number) {
  outcome.status = status;
  outcome.updateId = item.pkg.updateId;
  outcome.revision = revision;
}

function missingPayload(pkg: VendorPackage, options: CatalogImportOptions): UpcatError {
  const origin = pkg.vendor.originFile;
  if (origin === undefined) {
    return invalidInput(
      'the catalog gives no sdp:OriginFile for this package: no payload to publish',
    );
  }
  const where = [
    options.payloadDir === undefined ? undefined : `not in ${options.payloadDir}`,
    options.fetch === undefined
      ? undefined
      : origin.uri === undefined
        ? 'no OriginUri to fetch'
        : undefined,
  ].filter((w) => w !== undefined);
  return invalidInput(
    `payload ${origin.fileName}: ${where.join(', ') || 'no payload source given'}`,
  );
}

/** The TUF repository follows the batch's catalog version: new payload targets in, old ones out. */
export async function advance(
  site: ImportDeps,
  version: number,
  written: readonly Written[],
): Promise<void> {
  const add = [];
  const remove: string[] = [];
  for (const w of written) {
    const mine = w.awaiting ? [] : await revisionTargets(site.db, w.updateId, w.revision);
    add.push(...mine);
    if (w.previousWithContent !== undefined) {
      const names = new Set(mine.map((t) => t.name));
      const old = await revisionTargets(site.db, w.updateId, w.previousWithContent);
      remove.push(...old.map((t) => t.name).filter((n) => !names.has(n)));
    }
  }
  const changes: TargetChanges = { add, remove };
  await site.tuf?.advance(version, changes);
}

const ROLLBACK = Symbol('dry run');

/** Runs `work` in a catalog transaction that is always rolled back. */
async function rolledBack(db: Db, work: (trx: Knex.Transaction) => Promise<void>): Promise<void> {
  try {
    await writeCatalog(db, async (trx) => {
      await work(trx);
      throw ROLLBACK;
    });
  } catch (err) {
    if (err !== ROLLBACK) throw err;
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
    awaitingContent: count('awaiting_content'),
    unchanged: count('unchanged'),
    failed: count('failed'),
    unmappedByName: tally(packages.flatMap((p) => p.unmapped.map((u) => u.name))),
    unsupportedRulesByName: tally(packages.flatMap((p) => p.unsupportedRules.map((u) => u.name))),
  };
}
