import type { Logger } from 'pino';
import { notFound } from '../errors.js';
import type { Db } from '../storage/db.js';
import * as repo from '../storage/catalog-repo.js';
import type { TufPublisher } from './tuf-publisher.js';
import { writeCatalog } from '../storage/catalog-writer.js';

export interface ExpireResult {
  updateId: string;
  catalogVersion: number;
  /** False when the update was already expired (nothing changed). */
  changed: boolean;
}

/**
 * Expiry withdraws an update from the catalog for good (WSUS semantics): its revisions stay
 * stored for history and reports, but it leaves every client's policy at the next catalog version.
 */
export class ExpireService {
  constructor(private readonly deps: { db: Db; log: Logger; tuf: TufPublisher | undefined }) {}

  async expire(updateId: string, actor: string): Promise<ExpireResult> {
    const result = await this.expireInDb(updateId.toLowerCase(), actor);
    // The update's targets leave the signed catalog (a full diff: expiry is rare).
    if (result.changed) await this.deps.tuf?.advance(result.catalogVersion);
    return result;
  }

  private async expireInDb(id: string, actor: string): Promise<ExpireResult> {
    return writeCatalog(this.deps.db, async (trx) => {
      await repo.lockCatalog(trx);
      const update = await repo.findUpdate(trx, id);
      if (update === undefined) throw notFound(`update ${id} does not exist`, { updateId: id });
      if (update.state === 'expired') {
        return {
          updateId: id,
          catalogVersion: await repo.currentCatalogVersion(trx),
          changed: false,
        };
      }
      const catalogVersion = await repo.nextCatalogVersion(trx, {
        reason: 'expire',
        updateId: id,
        actor,
      });
      await trx('updates')
        .where({ update_id: id })
        .update({ state: 'expired', expired_at: repo.now() });
      await repo.audit(trx, { actor, action: 'expire', target: id });
      this.deps.log.info({ updateId: id, catalogVersion }, 'expired');
      return { updateId: id, catalogVersion, changed: true };
    });
  }
}
