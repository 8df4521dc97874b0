/**
 * What a batch of vendor packages needs to know of the site, read in a few queries per batch
 * instead of several per package (issue 11 item 4): the updates and their latest revisions,
 * payloads the pool already holds with the expected SHA-1, and which of the batch's updates
 * other revisions name in `pending_references`. The batch keeps it current as it writes
 * (`noteWritten`), so a later package of the same batch sees what an earlier one stored.
 */
import type { Knex } from 'knex';
import type { PayloadKind } from '../payload-check.js';
import type { VendorPackage } from './vendor-package.js';

type Trx = Knex.Transaction;

export interface KnownUpdate {
  state: string;
  product: string;
  latest: { number: number; contentKey: string; awaiting: boolean };
}

export interface PooledFile {
  sha256: string;
  sha1: string;
  size: number;
  fileName: string;
  kind: PayloadKind;
}

export class BatchLookup {
  private constructor(
    private readonly updates: Map<string, KnownUpdate>,
    private readonly pooledFiles: PooledFile[],
    private readonly pendingTargets: Set<string>,
  ) {}

  static async read(q: Trx, pkgs: readonly VendorPackage[]): Promise<BatchLookup> {
    const ids = [...new Set(pkgs.map((p) => p.updateId))];
    const sha1s = [...new Set(pkgs.flatMap((p) => p.vendor.originFile?.sha1 ?? []))];
    const updates = new Map<string, KnownUpdate>();
    const pooled: PooledFile[] = [];
    const pending = new Set<string>();
    for (let i = 0; i < ids.length; i += 500) {
      const slice = ids.slice(i, i + 500);
      const rows = (await q('updates as u')
        .join('revisions as r', function latest() {
          this.on('r.update_id', '=', 'u.update_id').andOn(
            'r.revision_number',
            '=',
            'u.latest_revision',
          );
        })
        .whereIn('u.update_id', slice)
        .select(
          'u.update_id',
          'u.state',
          'u.product',
          'r.revision_number',
          'r.content_key',
          'r.awaiting_content',
        )) as Array<{
        update_id: string;
        state: string;
        product: string;
        revision_number: number;
        content_key: string;
        awaiting_content: boolean | number;
      }>;
      for (const r of rows) {
        updates.set(r.update_id, {
          state: r.state,
          product: r.product,
          latest: {
            number: Number(r.revision_number),
            contentKey: r.content_key,
            awaiting: Boolean(r.awaiting_content),
          },
        });
      }
      const targets = (await q('pending_references')
        .whereIn('target_update_id', slice)
        .distinct('target_update_id')) as Array<{ target_update_id: string }>;
      for (const t of targets) pending.add(t.target_update_id);
    }
    for (let i = 0; i < sha1s.length; i += 500) {
      const rows = (await q('files as f')
        .join('blobs as b', 'b.sha256', 'f.sha256')
        .whereIn('b.sha1', sha1s.slice(i, i + 500))
        .distinct('f.sha256', 'b.sha1', 'b.size', 'f.name', 'f.kind')) as Array<{
        sha256: string;
        sha1: string;
        size: number | string;
        name: string;
        kind: PayloadKind;
      }>;
      for (const r of rows) {
        pooled.push({
          sha256: r.sha256,
          sha1: r.sha1,
          size: Number(r.size),
          fileName: r.name,
          kind: r.kind,
        });
      }
    }
    return new BatchLookup(updates, pooled, pending);
  }

  update(updateId: string): KnownUpdate | undefined {
    return this.updates.get(updateId);
  }

  /** A pooled payload with the SHA-1, size, name (and SHA-256 when given) the catalog expects. */
  pooled(pkg: VendorPackage): PooledFile | undefined {
    const origin = pkg.vendor.originFile;
    if (origin === undefined) return undefined;
    return this.pooledFiles.find(
      (f) =>
        f.sha1 === origin.sha1 &&
        f.size === origin.size &&
        f.fileName === origin.fileName &&
        (origin.sha256 === undefined || origin.sha256 === f.sha256),
    );
  }

  /** Whether another revision names this update in a pending reference. */
  isPendingTarget(updateId: string): boolean {
    return this.pendingTargets.has(updateId);
  }

  /** Keeps the lookup current after a package of the batch was stored. */
  noteWritten(
    pkg: VendorPackage,
    revision: number,
    file: PooledFile | undefined,
    pendingTargets: readonly string[],
  ): void {
    this.noteRevision({
      updateId: pkg.updateId,
      product: pkg.manifest.product,
      contentKey: pkg.metadataKey,
      number: revision,
      awaiting: file === undefined,
    });
    if (file !== undefined) this.pooledFiles.push(file);
    for (const t of pendingTargets) this.pendingTargets.add(t);
  }

  /** An update's new latest revision (a dry run that writes no rows carries these across batches). */
  noteRevision(r: NotedRevision): void {
    const known = this.updates.get(r.updateId);
    this.updates.set(r.updateId, {
      state: known?.state ?? 'active',
      product: r.product,
      latest: { number: r.number, contentKey: r.contentKey, awaiting: r.awaiting },
    });
  }
}

export interface NotedRevision {
  updateId: string;
  product: string;
  contentKey: string;
  number: number;
  awaiting: boolean;
}
