/**
 * Reads revisions for export from the catalog tables, in bulk: a 10,000-revision catalog is a
 * handful of queries (revisions, then files and relationships in chunks), not three per revision.
 */
import { handlerSchema } from '../../catalog/manifest.js';
import { notFound, conflict } from '../../errors.js';
import type { VendorMetadata } from '../../publish/sdp/vendor-metadata.js';
import { parseRuleJson } from '../../rules/index.js';
import type {
  FileRow,
  RelationshipRow,
  RevisionRow,
  UpdateRow,
} from '../../storage/catalog-repo.js';
import type { Db } from '../../storage/db.js';
import type { ExportRevision } from './model.js';

/** Bound parameters per IN list: well under SQLite's and PostgreSQL's limits. */
const CHUNK = 500;

/** One revision (the latest by default) of an active update; not_found / conflict otherwise. */
export async function loadRevision(
  db: Db,
  updateId: string,
  revision?: number,
): Promise<ExportRevision> {
  const id = updateId.toLowerCase();
  const update = (await db('updates').where({ update_id: id }).first()) as UpdateRow | undefined;
  if (update === undefined) throw notFound(`update ${updateId} does not exist`);
  if (update.state !== 'active') {
    throw conflict(`update ${updateId} is ${update.state}; only active updates are exported`);
  }
  const number = revision ?? update.latest_revision;
  const row = (await db('revisions').where({ update_id: id, revision_number: number }).first()) as
    RevisionRow | undefined;
  if (row === undefined) throw notFound(`update ${updateId} has no revision ${number}`);
  const [loaded] = await assemble(db, [row]);
  if (loaded === undefined) throw notFound(`update ${updateId} has no revision ${number}`);
  return loaded;
}

export interface CatalogFilter {
  /** Only updates of this product (exact name). */
  product?: string;
  /** Only revisions published at or after this instant. */
  since?: Date;
}

/** The latest revision of every active update, oldest update first. */
export async function loadCatalog(db: Db, filter: CatalogFilter = {}): Promise<ExportRevision[]> {
  const query = db('updates as u')
    .join('revisions as r', function latest() {
      this.on('r.update_id', '=', 'u.update_id').andOn(
        'r.revision_number',
        '=',
        'u.latest_revision',
      );
    })
    .where('u.state', 'active')
    .orderBy([{ column: 'u.created_at' }, { column: 'u.update_id' }])
    .select('r.*');
  if (filter.product !== undefined) query.where('u.product', filter.product);
  if (filter.since !== undefined) query.where('r.created_at', '>=', filter.since.toISOString());
  return assemble(db, (await query) as RevisionRow[]);
}

async function assemble(db: Db, rows: RevisionRow[]): Promise<ExportRevision[]> {
  const files = new Map<number, FileRow>();
  const relations = new Map<number, RelationshipRow[]>();
  const vendors = new Map<number, VendorMetadata>();
  for (let i = 0; i < rows.length; i += CHUNK) {
    const ids = rows.slice(i, i + CHUNK).map((r) => r.id);
    const vendorRows = (await db('vendor_revisions')
      .whereIn('revision_id', ids)
      .select('revision_id', 'metadata')) as Array<{ revision_id: number; metadata: string }>;
    for (const v of vendorRows) {
      vendors.set(v.revision_id, JSON.parse(v.metadata) as VendorMetadata);
    }
    // References to updates not on the site (yet) are part of what the vendor said.
    const pending = (await db('pending_references')
      .whereIn('revision_id', ids)
      .orderBy('id')
      .select('revision_id', 'kind', 'group_index', 'target_update_id')) as RelationshipRow[];
    for (const f of (await db('files').whereIn('revision_id', ids).orderBy('id')) as FileRow[]) {
      if (!files.has(f.revision_id)) files.set(f.revision_id, f);
    }
    const rels = (await db('relationships')
      .whereIn('revision_id', ids)
      .orderBy(['revision_id', 'kind', 'group_index'])) as RelationshipRow[];
    for (const r of [...rels, ...pending]) {
      const list = relations.get(r.revision_id) ?? [];
      list.push(r);
      relations.set(r.revision_id, list);
    }
  }
  return rows.map((row) =>
    toExport(row, files.get(row.id), relations.get(row.id) ?? [], vendors.get(row.id)),
  );
}

function toExport(
  row: RevisionRow & { awaiting_content?: boolean | number },
  file: FileRow | undefined,
  rels: RelationshipRow[],
  vendor: VendorMetadata | undefined,
): ExportRevision {
  const prerequisites: string[][] = [];
  for (const r of rels.filter((x) => x.kind === 'prerequisite')) {
    (prerequisites[r.group_index] ??= []).push(r.target_update_id);
  }
  const rule = (json: string | null, field: string) =>
    json === null ? undefined : parseRuleJson(JSON.parse(json) as unknown, field);
  const out: ExportRevision = {
    updateId: row.update_id,
    revision: row.revision_number,
    title: row.title,
    description: row.description,
    product: row.product,
    classification: row.classification,
    version: row.version,
    createdAt: new Date(row.created_at).toISOString(),
    handler: handlerSchema.parse(JSON.parse(row.handler) as unknown),
    supersedes: rels.filter((r) => r.kind === 'supersedes').map((r) => r.target_update_id),
    prerequisites: prerequisites.filter((g) => g.length > 0),
    bundles: rels.filter((r) => r.kind === 'bundles').map((r) => r.target_update_id),
    awaitingContent: row.awaiting_content === true || row.awaiting_content === 1,
  };
  if (vendor !== undefined) out.vendor = vendor;
  const isInstalled = rule(row.is_installed, 'isInstalled');
  const isInstallable = rule(row.is_installable, 'isInstallable');
  if (isInstalled !== undefined) out.isInstalled = isInstalled;
  if (isInstallable !== undefined) out.isInstallable = isInstallable;
  const origin = vendor?.originFile;
  if (file === undefined && out.awaitingContent && origin !== undefined) {
    // Metadata-only: the vendor's file, as its catalog described it.
    out.file = {
      name: origin.fileName,
      sha1: origin.sha1,
      sha256: origin.sha256 ?? '',
      size: origin.size,
      kind: 'file',
    };
  }
  if (file !== undefined) {
    out.file = {
      name: file.name,
      sha1: file.sha1,
      sha256: file.sha256,
      size: Number(file.size),
      kind: file.kind,
    };
  }
  return out;
}
