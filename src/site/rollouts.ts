import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { conflict, isUpcatError, notFound, UpcatError } from '../errors.js';
import { pageOf, type Page } from '../server/paging.js';
import * as repo from '../storage/catalog-repo.js';
import { writeCatalog } from '../storage/catalog-writer.js';
import type { Db } from '../storage/db.js';
import { parseWith } from '../validation.js';
import { groupIdByName } from './client-repo.js';
import type { DeploymentService } from './deployments.js';
import { parseDuration } from './duration.js';
import {
  ENGINE_ACTOR,
  judge,
  rolloutSchema,
  type RingRow,
  type RolloutRow,
  type RolloutStatus,
  type RolloutView,
} from './rollouts-model.js';
import { countedReporters, ringEvidence, rolloutViews, titlesOf } from './rollouts-view.js';

export interface AdvanceReport {
  at: string;
  /** Rollouts looked at (running ones). */
  checked: number;
  advanced: Array<{ id: number; ring: number; done: boolean }>;
  failed: Array<{ id: number; reason: string }>;
  held: Array<{ id: number; reason: string }>;
}

type Trx = Knex.Transaction;

/**
 * Rollouts (issue 14 item 6; hawkBit's rollout management, Intune's rings): an update taken
 * through groups one ring at a time. Creating a rollout deploys its first ring at once; the
 * engine (`advance`, on a timer in `upcat serve` under a lease, or `upcat rollouts advance`)
 * starts each next ring when the active one's evidence is good enough (rollouts-model.ts
 * `judge`). Every step is a row in `rollout_history` and in the audit log, under the person who
 * took it or `rollout engine`; a pass that finds nothing to do writes nothing.
 *
 * Each change takes the catalog lock first, so a pause and an advance of the same rollout are
 * one after the other, never interleaved, and the ring's deployment moves the catalog version
 * with the rollout row. Stopping leaves the deployments already made in place (remove them with
 * `upcat deployments remove` if wanted) and nothing is started again.
 */
export class RolloutService {
  constructor(
    private readonly deps: {
      db: Db;
      log: Logger;
      deployments: Pick<DeploymentService, 'approveIn'>;
    },
  ) {}

  async create(input: unknown, actor: string, at = new Date()): Promise<RolloutView> {
    const r = parseWith(rolloutSchema, input, 'rollout');
    const updateId = r.updateId.toLowerCase();
    const id = await writeCatalog(this.deps.db, async (trx) => {
      await repo.lockCatalog(trx);
      const update = await repo.findUpdate(trx, updateId);
      if (update === undefined)
        throw notFound(`updateId: update ${updateId} does not exist`, { updateId });
      const groupIds: number[] = [];
      for (const [i, ring] of r.rings.entries()) {
        const gid = await groupIdByName(trx, ring.group);
        if (gid === undefined) throw notFound(`rings[${i}].group: "${ring.group}" does not exist`);
        groupIds.push(gid);
      }
      const [inserted] = (await trx('rollouts')
        .insert({
          name:
            r.name ?? ((await titlesOf(trx, [updateId])).get(updateId) ?? updateId).slice(0, 128),
          update_id: updateId,
          action: r.action,
          deadline_offset: r.deadline ?? null,
          status: 'running',
          current_ring: 0,
          created_at: at.toISOString(),
          created_by: actor,
        })
        .returning('id')) as Array<{ id: number } | number>;
      const rolloutId = Number(typeof inserted === 'number' ? inserted : inserted?.id);
      await trx('rollout_rings').insert(
        r.rings.map((ring, i) => ({
          rollout_id: rolloutId,
          ring_index: i,
          group_name: ring.group,
          group_id: groupIds[i] ?? null,
          percent: ring.percent,
          min_success: ring.minSuccess,
          min_reporting: ring.minReporting,
          wait: ring.wait,
          state: 'pending',
        })),
      );
      await step(trx, rolloutId, 'create', actor, at, null, {
        updateId,
        action: r.action,
        deadline: r.deadline ?? null,
        rings: r.rings,
      });
      await this.startRing(trx, rolloutId, 0, actor, at);
      return rolloutId;
    });
    this.deps.log.info({ rollout: id, updateId }, 'rollout created');
    return this.show(id, at);
  }

  async show(id: number, at = new Date()): Promise<RolloutView> {
    const row = (await this.deps.db('rollouts').where({ id }).first()) as RolloutRow | undefined;
    if (row === undefined) throw notFound(`id: rollout ${id} does not exist`, { id });
    const [view] = await rolloutViews(this.deps.db, [row], at);
    if (view === undefined) throw notFound(`id: rollout ${id} does not exist`, { id });
    return view;
  }

  /** One page, newest first; `status` keeps only rollouts in that state. */
  async page(query: {
    limit: number;
    before?: number;
    status?: RolloutStatus;
  }): Promise<Page<RolloutView>> {
    const q = this.deps
      .db('rollouts')
      .orderBy('id', 'desc')
      .limit(query.limit + 1);
    if (query.before !== undefined) q.where('id', '<', query.before);
    if (query.status !== undefined) q.where('status', query.status);
    const rows = (await q) as RolloutRow[];
    const page = pageOf(rows, query.limit, (r) => [Number(r.id)]);
    return { items: await rolloutViews(this.deps.db, page.items), next: page.next };
  }

  pause(id: number, actor: string): Promise<RolloutView> {
    return this.change(id, actor, 'pause', ['running'], 'paused');
  }

  /** A paused rollout goes on; a failed one is judged again at the next pass. */
  resume(id: number, actor: string): Promise<RolloutView> {
    return this.change(id, actor, 'resume', ['paused', 'failed'], 'running');
  }

  stop(id: number, actor: string): Promise<RolloutView> {
    return this.change(id, actor, 'stop', ['running', 'paused', 'failed'], 'stopped');
  }

  private async change(
    id: number,
    actor: string,
    name: string,
    from: readonly RolloutStatus[],
    to: RolloutStatus,
  ): Promise<RolloutView> {
    const at = new Date();
    await writeCatalog(this.deps.db, async (trx) => {
      await repo.lockCatalog(trx);
      const row = (await trx('rollouts').where({ id }).first()) as RolloutRow | undefined;
      if (row === undefined) throw notFound(`id: rollout ${id} does not exist`, { id });
      if (!from.includes(row.status))
        throw conflict(
          `rollout ${id} is ${row.status}; only a ${from.join(' or ')} one can ${name}`,
          {
            status: row.status,
          },
        );
      await trx('rollouts').where({ id }).update({ status: to });
      await step(trx, id, name, actor, at, Number(row.current_ring), { from: row.status, to });
    });
    this.deps.log.info({ rollout: id, status: to }, `rollout ${name}`);
    return this.show(id, at);
  }

  /**
   * One pass of the engine over every running rollout, at `at`. A rollout whose step fails for
   * a reason of its own (its update was expired or superseded, its next group deleted) is marked
   * failed with the reason, and the pass goes on with the others.
   */
  async advance(at = new Date(), actor = ENGINE_ACTOR): Promise<AdvanceReport> {
    const report: AdvanceReport = {
      at: at.toISOString(),
      checked: 0,
      advanced: [],
      failed: [],
      held: [],
    };
    const running = (await this.deps
      .db('rollouts')
      .where({ status: 'running' })
      .orderBy('id')
      .select('id')) as Array<{ id: number }>;
    for (const { id } of running) {
      report.checked += 1;
      try {
        await writeCatalog(this.deps.db, (trx) =>
          this.advanceOne(trx, Number(id), at, actor, report),
        );
      } catch (err) {
        if (!isUpcatError(err) || err.code === 'internal') throw err;
        await this.failWith(Number(id), err.message, at, actor);
        report.failed.push({ id: Number(id), reason: err.message });
      }
    }
    if (report.advanced.length > 0 || report.failed.length > 0)
      this.deps.log.info({ rollouts: report }, 'rollout engine pass');
    return report;
  }

  private async advanceOne(
    trx: Trx,
    id: number,
    at: Date,
    actor: string,
    report: AdvanceReport,
  ): Promise<void> {
    await repo.lockCatalog(trx);
    const row = (await trx('rollouts').where({ id }).first()) as RolloutRow | undefined;
    if (row?.status !== 'running') return; // paused or stopped since the list was read
    const current = Number(row.current_ring);
    const rings = (await trx('rollout_rings')
      .where({ rollout_id: id })
      .orderBy('ring_index')) as RingRow[];
    const ring = rings[current];
    if (ring === undefined)
      throw new UpcatError('internal', `rollout ${id} has no ring ${current}`);
    const counted = await countedReporters(trx, [row.update_id]);
    const evidence = await ringEvidence(trx, row.update_id, ring, counted);
    const v = judge(ring, evidence, at);
    if (v.verdict === 'hold') {
      report.held.push({ id, reason: v.reason });
      return;
    }
    if (v.verdict === 'fail') {
      await trx('rollouts').where({ id }).update({ status: 'failed' });
      await step(trx, id, 'fail', actor, at, current, { reason: v.reason, evidence });
      report.failed.push({ id, reason: v.reason });
      return;
    }
    await trx('rollout_rings')
      .where({ rollout_id: id, ring_index: current })
      .update({ state: 'done', done_at: at.toISOString() });
    await step(trx, id, 'advance', actor, at, current, { reason: v.reason, evidence });
    const next = current + 1;
    if (next >= rings.length) {
      await trx('rollouts').where({ id }).update({ status: 'done' });
      await step(trx, id, 'done', actor, at, current, null);
      report.advanced.push({ id, ring: current, done: true });
      return;
    }
    await this.startRing(trx, id, next, actor, at);
    report.advanced.push({ id, ring: next, done: false });
  }

  /** Deploys a ring's group (its percentage, the rollout's action and deadline offset). */
  private async startRing(
    trx: Trx,
    id: number,
    index: number,
    actor: string,
    at: Date,
  ): Promise<void> {
    const row = (await trx('rollouts').where({ id }).first()) as RolloutRow;
    const ring = (await trx('rollout_rings')
      .where({ rollout_id: id, ring_index: index })
      .first()) as RingRow;
    const group = ring.group_id === null ? undefined : await groupName(trx, Number(ring.group_id));
    if (group === undefined)
      throw conflict(`rings[${index}].group: "${ring.group_name}" no longer exists`);
    const deadline =
      row.deadline_offset === null
        ? undefined
        : new Date(at.getTime() + parseDuration(row.deadline_offset, 'deadline')).toISOString();
    const deployment = await this.deps.deployments.approveIn(
      trx,
      {
        updateId: row.update_id,
        group,
        action: row.action,
        percent: Number(ring.percent),
        ...(deadline === undefined ? {} : { deadline }),
      },
      actor,
      { action: 'deployment.approve', detail: { rollout: id, ring: index } },
    );
    await trx('rollout_rings')
      .where({ rollout_id: id, ring_index: index })
      .update({ state: 'active', started_at: at.toISOString() });
    await trx('rollouts').where({ id }).update({ current_ring: index });
    await step(trx, id, 'ring-start', actor, at, index, {
      group,
      percent: Number(ring.percent),
      deadline: deployment.deadline,
      deployment: deployment.id,
    });
  }

  private async failWith(id: number, reason: string, at: Date, actor: string): Promise<void> {
    await writeCatalog(this.deps.db, async (trx) => {
      await repo.lockCatalog(trx);
      const row = (await trx('rollouts').where({ id }).first()) as RolloutRow | undefined;
      if (row?.status !== 'running') return;
      await trx('rollouts').where({ id }).update({ status: 'failed' });
      await step(trx, id, 'fail', actor, at, Number(row.current_ring), { reason });
    });
  }
}

async function groupName(trx: Trx, id: number): Promise<string | undefined> {
  const g = (await trx('groups').where({ id }).first('name')) as { name: string } | undefined;
  return g?.name;
}

/** One step of a rollout: a history row for the console and an audit row for the log. */
async function step(
  trx: Trx,
  id: number,
  name: string,
  actor: string,
  at: Date,
  ring: number | null,
  detail: Record<string, unknown> | null,
): Promise<void> {
  const full = { ...(ring === null ? {} : { ring }), ...detail };
  await trx('rollout_history').insert({
    rollout_id: id,
    at: at.toISOString(),
    step: name,
    actor,
    detail: JSON.stringify(full),
  });
  await repo.audit(trx, {
    actor,
    action: `rollout.${name}`,
    target: `rollout:${id}`,
    detail: full,
  });
}
