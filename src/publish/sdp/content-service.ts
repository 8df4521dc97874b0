/**
 * `upcat content add <updateId> FILE` (issue 11 item 3): the payload of a vendor package
 * imported awaiting content. The file is staged and published only when its SHA-1 and size (and
 * SHA-256, when the vendor gave one) equal the catalog's; it then arrives as the update's next
 * revision, with the metadata the waiting revision holds (revisions are immutable), and from
 * that catalog version on it is a TUF target and can be offered to endpoints.
 */
import { rm } from 'node:fs/promises';
import { invalidInput, notFound } from '../../errors.js';
import * as repo from '../../storage/catalog-repo.js';
import { writeCatalog } from '../../storage/catalog-writer.js';
import { advance, type ImportDeps } from './catalog-import.js';
import { fetchPayload, type FetchOptions } from './fetch.js';
import { originOf, stageFile, type PreparedPayload } from './payloads.js';
import type { VendorMetadata } from './vendor-metadata.js';
import { toVendorPackage, type VendorPackage } from './vendor-package.js';
import { BatchLookup } from './batch-lookup.js';
import { decide, insertVendorRows, writeVendorRevision } from './vendor-writer.js';

export type ContentSource = { file: string } | { fetch: FetchOptions };

export interface ContentResult {
  updateId: string;
  revision: number;
  /** False when the update already had this content (nothing changed). */
  created: boolean;
  catalogVersion: number;
  sha1: string;
  sha256: string;
  size: number;
}

export async function addContent(
  site: ImportDeps,
  updateId: string,
  source: ContentSource,
  actor: string,
): Promise<ContentResult> {
  const pkg = await storedPackage(site, updateId.toLowerCase());
  const payload = await stage(site, pkg, source);
  try {
    const result = await writeCatalog(site.db, async (trx) => {
      await repo.lockCatalog(trx);
      const decision = decide(await BatchLookup.read(trx, [pkg]), pkg, true);
      if (decision.kind === 'unchanged') {
        return {
          revision: decision.revision,
          created: false,
          version: await repo.currentCatalogVersion(trx),
          written: undefined,
        };
      }
      const version = await repo.nextCatalogVersion(trx, {
        reason: 'content',
        updateId: pkg.updateId,
        actor,
      });
      const ctx = { pool: site.blobs, signing: site.signing, dryRun: false, actor };
      const written = await writeVendorRevision(trx, pkg, decision, payload, version, ctx);
      await insertVendorRows(trx, [written.vendorRow]);
      await repo.audit(trx, {
        actor,
        action: 'content-add',
        target: `${pkg.updateId}/${written.revision}`,
        detail: {
          sha1: payload.staged.sha1,
          sha256: payload.staged.sha256,
          size: payload.staged.size,
        },
      });
      return { revision: written.revision, created: true, version, written };
    });
    if (result.written !== undefined) await advance(site, result.version, [result.written]);
    return {
      updateId: pkg.updateId,
      revision: result.revision,
      created: result.created,
      catalogVersion: result.version,
      sha1: payload.staged.sha1,
      sha256: payload.staged.sha256,
      size: payload.staged.size,
    };
  } finally {
    await payload.staged.discard();
  }
}

/** The package as the catalog imported it: its latest revision's vendor row. */
async function storedPackage(site: ImportDeps, updateId: string): Promise<VendorPackage> {
  const update = await repo.findUpdate(site.db, updateId);
  if (update === undefined) throw notFound(`update ${updateId} does not exist`, { updateId });
  const row = (await site
    .db('revisions as r')
    .join('vendor_revisions as v', 'v.revision_id', 'r.id')
    .where({ 'r.update_id': updateId, 'r.revision_number': update.latest_revision })
    .first('v.manifest', 'v.metadata')) as { manifest: string; metadata: string } | undefined;
  if (row === undefined) {
    throw invalidInput(
      `update ${updateId} was not imported from a vendor catalog: publish its payload with "upcat publish"`,
    );
  }
  return toVendorPackage(
    JSON.parse(row.manifest) as Record<string, unknown>,
    JSON.parse(row.metadata) as VendorMetadata,
    // Stored as the mapping made it, so the key matches the import's.
    { mapped: true },
  );
}

async function stage(
  site: ImportDeps,
  pkg: VendorPackage,
  source: ContentSource,
): Promise<PreparedPayload> {
  if ('file' in source) return stageFile(site, pkg, source.file);
  const origin = originOf(pkg);
  if (origin.uri === undefined) {
    throw invalidInput(`update ${pkg.updateId}: the catalog gives no OriginUri to fetch from`);
  }
  const file = await fetchPayload(origin.uri, origin.fileName, origin.size, source.fetch);
  try {
    return await stageFile(site, pkg, file);
  } finally {
    await rm(file, { force: true });
  }
}
