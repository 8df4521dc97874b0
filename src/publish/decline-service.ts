import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { conflict, notFound } from '../errors.js';
import type { Db } from '../storage/db.js';
import * as repo from '../storage/catalog-repo.js';
import { writeCatalog } from '../storage/catalog-writer.js';
import type { TufPublisher } from './tuf-publisher.js';

export interface DeclineResult {
  updateId: string;
  /** The update's state after the call. */
  state: 'declined' | 'active';
  catalogVersion: number;
  /** False when the update already was in that state (nothing changed). */
  changed: boolean;
  /** Groups the update stays deployed to: inert while it is declined, offered again after. */
  deployments: string[];
}

/**
 * WSUS's Decline (issue 14 item 1): a declined update is no longer offered and cannot be
 * deployed, but unlike expiry it can be undeclined. Both directions move the catalog to a new
 * version under the catalog lock, as expiry does (expire-service.ts), so the signed catalog, the
 * clients' policies and the MS-WUSP catalog change at one version: every reader filters on
 * `updates.state = 'active'`.
 *
 * Deployments of a declined update are kept, not removed: they stop offering anything (policy
 * reads live updates only), the revision report keeps counting them under status `declined`,
 * and a new deployment of it is refused (site/deployments.ts). An undecline is an undo: the
 * update and its deployments are offered again as they were. Its payloads are kept meanwhile
 * (migration 014).
 */
export class DeclineService {
  constructor(private readonly deps: { db: Db; log: Logger; tuf: TufPublisher | undefined }) {}

  decline(updateId: string, actor: string): Promise<DeclineResult> {
    return this.change(updateId, actor, 'declined');
  }

  undecline(updateId: string, actor: string): Promise<DeclineResult> {
    return this.change(updateId, actor, 'active');
  }

  private async change(
    updateId: string,
    actor: string,
    to: DeclineResult['state'],
  ): Promise<DeclineResult> {
    const result = await writeCatalog(this.deps.db, (trx) =>
      this.changeInDb(trx, updateId.toLowerCase(), actor, to),
    );
    // The update's targets leave (or rejoin) the signed catalog: a full diff, as for expiry.
    if (result.changed) await this.deps.tuf?.advance(result.catalogVersion);
    return result;
  }

  private async changeInDb(
    trx: Knex.Transaction,
    id: string,
    actor: string,
    to: DeclineResult['state'],
  ): Promise<DeclineResult> {
    await repo.lockCatalog(trx);
    const update = await repo.findUpdate(trx, id);
    if (update === undefined) throw notFound(`update ${id} does not exist`, { updateId: id });
    if (update.state === 'expired') {
      throw conflict(
        `update ${id} is expired; expiry is final, it cannot be ${to === 'declined' ? 'declined' : 'undeclined'}`,
        { updateId: id },
      );
    }
    const deployments = (
      (await trx('deployments as d')
        .join('groups as g', 'g.id', 'd.group_id')
        .where('d.update_id', id)
        .orderBy('g.name')
        .select('g.name')) as Array<{ name: string }>
    ).map((d) => d.name);
    if (update.state === to) {
      const catalogVersion = await repo.currentCatalogVersion(trx);
      return { updateId: id, state: to, catalogVersion, changed: false, deployments };
    }
    const action = to === 'declined' ? 'decline' : 'undecline';
    const catalogVersion = await repo.nextCatalogVersion(trx, {
      reason: action,
      updateId: id,
      actor,
    });
    await trx('updates')
      .where({ update_id: id })
      .update({ state: to, declined_at: to === 'declined' ? repo.now() : null });
    await repo.audit(trx, { actor, action, target: id, detail: { deployments } });
    this.deps.log.info(
      { updateId: id, catalogVersion },
      action === 'decline' ? 'declined' : 'undeclined',
    );
    return { updateId: id, state: to, catalogVersion, changed: true, deployments };
  }
}
