import type { Db } from '../storage/db.js';
import * as repo from '../storage/catalog-repo.js';

export interface RevisionView {
  updateId: string;
  revision: number;
  title: string;
  product: string;
  classification: string;
  version: string;
  catalogVersion: number;
  files: Array<{ name: string; sha256: string; sha1: string; size: number; kind: string }>;
  prerequisites: string[][];
  supersedes: string[];
}

export interface UpdateView {
  updateId: string;
  product: string;
  classification: string;
  state: string;
  supersededBy: string | null;
  latestRevision: number;
  revisions: RevisionView[];
}

/** Read side of the catalog, for commands, routes and tests. */
export class CatalogReader {
  constructor(private readonly db: Db) {}

  catalogVersion(): Promise<number> {
    return repo.currentCatalogVersion(this.db);
  }

  async getUpdate(updateId: string): Promise<UpdateView | undefined> {
    const update = await repo.findUpdate(this.db, updateId.toLowerCase());
    if (update === undefined) return undefined;
    const rows = (await this.db('revisions')
      .where({ update_id: update.update_id })
      .orderBy('revision_number')) as repo.RevisionRow[];
    const revisions: RevisionView[] = [];
    for (const row of rows) revisions.push(await this.revisionView(row));
    return {
      updateId: update.update_id,
      product: update.product,
      classification: update.classification,
      state: update.state,
      supersededBy: update.superseded_by,
      latestRevision: update.latest_revision,
      revisions,
    };
  }

  async listUpdates(): Promise<
    Array<Omit<UpdateView, 'revisions'> & { title: string; version: string }>
  > {
    const rows = (await this.db('updates as u')
      .join('revisions as r', function joinLatest() {
        this.on('r.update_id', '=', 'u.update_id').andOn(
          'r.revision_number',
          '=',
          'u.latest_revision',
        );
      })
      .orderBy('u.created_at')
      .select('u.*', 'r.title', 'r.version')) as Array<
      repo.UpdateRow & { title: string; version: string }
    >;
    return rows.map((u) => ({
      updateId: u.update_id,
      product: u.product,
      classification: u.classification,
      state: u.state,
      supersededBy: u.superseded_by,
      latestRevision: u.latest_revision,
      title: u.title,
      version: u.version,
    }));
  }

  private async revisionView(row: repo.RevisionRow): Promise<RevisionView> {
    const files = await repo.filesOf(this.db, row.id);
    const rels = await repo.relationshipsOf(this.db, row.id);
    const prerequisites: string[][] = [];
    for (const rel of rels.filter((r) => r.kind === 'prerequisite')) {
      (prerequisites[rel.group_index] ??= []).push(rel.target_update_id);
    }
    return {
      updateId: row.update_id,
      revision: row.revision_number,
      title: row.title,
      product: row.product,
      classification: row.classification,
      version: row.version,
      catalogVersion: Number(row.catalog_version),
      files: files.map((f) => ({
        name: f.name,
        sha256: f.sha256,
        sha1: f.sha1,
        size: f.size,
        kind: f.kind,
      })),
      prerequisites,
      supersedes: rels.filter((r) => r.kind === 'supersedes').map((r) => r.target_update_id),
    };
  }
}
