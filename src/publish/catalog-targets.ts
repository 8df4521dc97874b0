import type { Knex } from 'knex';
import type { JsonValue } from '../catalog/canonical-json.js';
import type { DesiredCatalog } from '../signing/tuf-advance.js';
import type { TargetInput } from '../signing/tuf-targets.js';
import { currentCatalogVersion } from '../storage/catalog-repo.js';

/**
 * What the TUF repository lists for a catalog version (issue 3 item 2): for every active update,
 * its latest revision's metadata document, and every payload that revision names. A document's
 * target name is stable per update, so clients find the newest revision under one name; a
 * payload's name is its digest, so identical bytes are one target.
 */
export const documentTargetName = (updateId: string): string => `updates/${updateId}.xml`;
export const payloadTargetName = (sha256: string): string => `payloads/${sha256}`;

export interface TargetSource {
  update_id: string;
  revision_number: number;
  classification: string;
  product: string;
  version: string;
  document_sha256: string | null;
  document_size: number | string | null;
  sha256: string;
  sha1: string;
  size: number | string;
  name: string;
}

/** The targets of one revision: its document and its payloads. */
export function targetsOf(rows: readonly TargetSource[]): TargetInput[] {
  const out: TargetInput[] = [];
  const first = rows[0];
  if (first === undefined) return out;
  const custom: { [key: string]: JsonValue } = {
    updateId: first.update_id,
    revision: first.revision_number,
    classification: first.classification,
    product: first.product,
    version: first.version,
  };
  if (first.document_sha256 !== null) {
    out.push({
      name: documentTargetName(first.update_id),
      length: Number(first.document_size),
      hashes: { sha256: first.document_sha256 },
      custom: { ...custom, kind: 'update' },
    });
  }
  for (const row of rows) {
    out.push({
      name: payloadTargetName(row.sha256),
      length: Number(row.size),
      hashes: { sha256: row.sha256 },
      custom: { ...custom, kind: 'payload', fileName: row.name, sha1: row.sha1 },
    });
  }
  return out;
}

const SOURCE_COLUMNS = [
  'r.update_id',
  'r.revision_number',
  'r.classification',
  'r.product',
  'r.version',
  'r.document_sha256',
  'r.document_size',
  'f.sha256',
  'f.sha1',
  'f.size',
  'f.name',
];

/** The rows behind one revision's targets. */
export async function revisionTargets(
  q: Knex | Knex.Transaction,
  updateId: string,
  revision: number,
): Promise<TargetInput[]> {
  const rows = (await q('revisions as r')
    .join('files as f', 'f.revision_id', 'r.id')
    .where({ 'r.update_id': updateId, 'r.revision_number': revision })
    .orderBy('f.id')
    .select(SOURCE_COLUMNS)) as TargetSource[];
  return targetsOf(rows);
}

/** Every target of the current catalog version, read in one transaction (one consistent view). */
export async function desiredCatalog(db: Knex): Promise<DesiredCatalog> {
  return db.transaction(async (trx) => {
    const catalogVersion = await currentCatalogVersion(trx);
    const rows = (await trx('updates as u')
      .join('revisions as r', function latest() {
        this.on('r.update_id', '=', 'u.update_id').andOn(
          'r.revision_number',
          '=',
          'u.latest_revision',
        );
      })
      .join('files as f', 'f.revision_id', 'r.id')
      .where('u.state', 'active')
      .orderBy(['u.update_id', 'f.id'])
      .select(SOURCE_COLUMNS)) as TargetSource[];
    const byRevision = new Map<string, TargetSource[]>();
    for (const row of rows) {
      const list = byRevision.get(row.update_id) ?? [];
      list.push(row);
      byRevision.set(row.update_id, list);
    }
    const targets = new Map<string, TargetInput>();
    for (const list of byRevision.values()) {
      for (const t of targetsOf(list)) targets.set(t.name, t);
    }
    return { catalogVersion, targets: [...targets.values()] };
  });
}
