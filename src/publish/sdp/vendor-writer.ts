/**
 * Writes one vendor package as a revision, inside a transaction the caller holds (a savepoint
 * per package within a batch: catalog-import.ts). The identity of a vendor package is its
 * PackageID: unlike `upcat publish`, no product + version rule applies, because vendor product
 * names are categories ("Driver") under which versions repeat across unrelated packages.
 *
 * A revision without a payload is `awaiting_content`: no files row, no document, no TUF target,
 * never in a client's policy. When its payload arrives and matches, the next revision carries it
 * (revisions are immutable). References to updates the site does not have are kept in
 * `pending_references` and become relationships when those updates arrive (references.ts).
 */
import type { Knex } from 'knex';
import { conflict, invalidInput, UpcatError } from '../../errors.js';
import type { SiteSigning } from '../../signing/site-signing.js';
import type { BlobStore } from '../../storage/blobs/store.js';
import * as repo from '../../storage/catalog-repo.js';
import { revisionToXml } from '../../catalog/update-xml.js';
import { documentOf, writeRevisionArtifacts, type RevisionFacts } from '../revision-artifacts.js';
import type { BatchLookup, PooledFile } from './batch-lookup.js';
import type { PreparedPayload } from './payloads.js';
import { resolvePendingFor, storeReferences } from './references.js';
import type { RebootBehavior } from './vendor-metadata.js';
import type { VendorPackage } from './vendor-package.js';

type Trx = Knex.Transaction;

export type Decision =
  | { kind: 'unchanged'; revision: number; awaiting: boolean }
  | {
      kind: 'write';
      existing: boolean;
      /** The latest revision, when the update exists. */
      latest: { number: number; hasContent: boolean } | undefined;
      pooled: PooledFile | undefined;
      /** Other revisions name this update in pending references. */
      pendingTarget: boolean;
    };

export interface WriterContext {
  pool: BlobStore;
  signing: SiteSigning | undefined;
  /** A dry run writes rows (rolled back later) but no pool files or signatures. */
  dryRun: boolean;
  actor: string;
}

export interface Written {
  updateId: string;
  revision: number;
  awaiting: boolean;
  /** The previous revision, when it had content (its targets leave the TUF repository). */
  previousWithContent: number | undefined;
  file: PooledFile | undefined;
  /** Updates this revision names that the site does not have. */
  pendingTargets: string[];
  /** The `vendor_revisions` row, inserted by the caller (a batch inserts its rows at once). */
  vendorRow: Record<string, unknown>;
}

/** What storing this package would do, or why it cannot be stored (from the batch's lookup). */
export function decide(lookup: BatchLookup, pkg: VendorPackage, hasPayload: boolean): Decision {
  const update = lookup.update(pkg.updateId);
  if (update !== undefined && update.state !== 'active') {
    throw conflict(`update ${pkg.updateId} is ${update.state}; it takes no new revisions`, {
      updateId: pkg.updateId,
    });
  }
  if (update !== undefined && update.product !== pkg.manifest.product) {
    throw conflict(
      `update ${pkg.updateId} is for product "${update.product}", not "${pkg.manifest.product}"`,
      { updateId: pkg.updateId },
    );
  }
  const latest = update?.latest;
  const pooled = hasPayload ? undefined : lookup.pooled(pkg);
  if (latest !== undefined && latest.contentKey === pkg.metadataKey) {
    // Same metadata: unchanged, unless this run brings the content a waiting revision lacks.
    if (!latest.awaiting || (!hasPayload && pooled === undefined)) {
      return { kind: 'unchanged', revision: latest.number, awaiting: latest.awaiting };
    }
  }
  return {
    kind: 'write',
    existing: update !== undefined,
    latest:
      latest === undefined ? undefined : { number: latest.number, hasContent: !latest.awaiting },
    pooled,
    pendingTarget: lookup.isPendingTarget(pkg.updateId),
  };
}

export async function writeVendorRevision(
  trx: Trx,
  pkg: VendorPackage,
  decision: Extract<Decision, { kind: 'write' }>,
  payload: PreparedPayload | undefined,
  catalogVersion: number,
  ctx: WriterContext,
): Promise<Written> {
  const { manifest, updateId } = pkg;
  const revision = (decision.latest?.number ?? 0) + 1;
  const file = fileOf(payload, decision.pooled);
  const created = repo.now();
  if (decision.existing) {
    await trx('updates')
      .where({ update_id: updateId })
      .update({ latest_revision: revision, classification: manifest.classification });
  } else {
    await trx('updates').insert({
      update_id: updateId,
      product: manifest.product,
      classification: manifest.classification,
      state: 'active',
      created_at: created,
      latest_revision: revision,
    });
  }
  const [inserted] = (await trx('revisions')
    .insert({
      update_id: updateId,
      revision_number: revision,
      title: manifest.title,
      description: manifest.description,
      product: manifest.product,
      classification: manifest.classification,
      version: manifest.version,
      handler: JSON.stringify(manifest.handler),
      is_installed: pkg.rules.isInstalled,
      is_installable: pkg.rules.isInstallable,
      content_key: pkg.metadataKey,
      catalog_version: catalogVersion,
      created_at: created,
      awaiting_content: file === undefined,
    })
    .returning('id')) as Array<{ id: number } | number>;
  const revisionId = typeof inserted === 'object' ? inserted.id : inserted;
  if (revisionId === undefined) throw new UpcatError('internal', 'revision insert returned no id');

  if (file !== undefined) {
    await repo.insertBlob(trx, file);
    await trx('files').insert({
      revision_id: revisionId,
      name: file.fileName,
      sha256: file.sha256,
      sha1: file.sha1,
      size: file.size,
      kind: file.kind,
    });
  }
  const pendingTargets = await storeReferences(trx, pkg, revisionId);
  if (!decision.existing && decision.pendingTarget) await resolvePendingFor(trx, updateId);
  if (file !== undefined) await writeArtifacts(trx, pkg, revision, created, file, payload, ctx);
  return {
    vendorRow: vendorRow(pkg, revisionId),
    updateId,
    revision,
    awaiting: file === undefined,
    previousWithContent: decision.latest?.hasContent === true ? decision.latest.number : undefined,
    file,
    pendingTargets,
  };
}

/**
 * The document and CMS signature; the staged payload and document enter the pool last. A dry
 * run builds (and so validates) the document but writes no file.
 */
async function writeArtifacts(
  trx: Trx,
  pkg: VendorPackage,
  revision: number,
  created: string,
  file: PooledFile,
  payload: PreparedPayload | undefined,
  ctx: WriterContext,
): Promise<void> {
  const facts: RevisionFacts = {
    updateId: pkg.updateId,
    revision,
    created,
    manifest: pkg.manifest,
    rules: pkg.rules,
    payload: {
      name: file.fileName,
      sha256: file.sha256,
      sha1: file.sha1,
      size: file.size,
      kind: file.kind,
    },
    ...rebootOf(pkg),
  };
  if (ctx.dryRun) {
    revisionToXml(documentOf(facts));
    return;
  }
  if (ctx.signing === undefined) {
    throw new UpcatError('conflict', 'this site has no signing keys yet: run "upcat init" first');
  }
  const document = await writeRevisionArtifacts(trx, ctx.pool, ctx.signing, facts);
  if (payload !== undefined) await payload.staged.commit();
  await document.commit();
}

/** The vendor's RebootBehavior when it is one the update document can carry. */
function rebootOf(pkg: VendorPackage): { rebootBehavior?: RebootBehavior } {
  const value = pkg.vendor.installProperties?.rebootBehavior;
  return value === 'NeverReboots' ||
    value === 'AlwaysRequiresReboot' ||
    value === 'CanRequestReboot'
    ? { rebootBehavior: value }
    : {};
}

function fileOf(
  payload: PreparedPayload | undefined,
  pooled: PooledFile | undefined,
): PooledFile | undefined {
  if (payload === undefined) return pooled;
  const { staged } = payload;
  return {
    sha256: staged.sha256,
    sha1: staged.sha1,
    size: staged.size,
    fileName: payload.fileName,
    kind: payload.kind,
  };
}

function vendorRow(pkg: VendorPackage, revisionId: number): Record<string, unknown> {
  const origin = pkg.vendor.originFile;
  return {
    revision_id: revisionId,
    vendor: pkg.vendor.vendor ?? null,
    // Bundles ride along in the manifest JSON so `content add` rebuilds the same package.
    manifest: JSON.stringify(
      pkg.bundles.length > 0 ? { ...pkg.manifest, bundles: pkg.bundles } : pkg.manifest,
    ),
    metadata: JSON.stringify(pkg.vendor),
    expected_sha1: origin?.sha1 ?? null,
    expected_size: origin?.size ?? null,
    expected_sha256: origin?.sha256 ?? null,
    origin_file_name: origin?.fileName ?? null,
    origin_uri: origin?.uri ?? null,
  };
}

/** Inserts `vendor_revisions` rows, several per statement. */
export async function insertVendorRows(
  trx: Trx,
  rows: ReadonlyArray<Record<string, unknown>>,
): Promise<void> {
  // 100 rows of 9 columns stay under SQLite's 999 bound parameters.
  for (let i = 0; i < rows.length; i += 100) {
    await trx('vendor_revisions').insert(rows.slice(i, i + 100));
  }
}
/** Refuses references a package cannot make whatever the site holds. */
export function checkSelfReferences(pkg: VendorPackage): void {
  if (pkg.manifest.supersedes.includes(pkg.updateId)) {
    throw invalidInput(`supersedes: update ${pkg.updateId} cannot supersede itself`);
  }
  if (pkg.manifest.prerequisites.flat().includes(pkg.updateId)) {
    throw invalidInput(`prerequisites: update ${pkg.updateId} cannot be its own prerequisite`);
  }
  if (pkg.bundles.includes(pkg.updateId)) {
    throw invalidInput(`bundles: update ${pkg.updateId} cannot bundle itself`);
  }
}
