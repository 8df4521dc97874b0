import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { z } from 'zod';
import { UpcatError, conflict, notFound } from '../errors.js';
import * as repo from '../storage/catalog-repo.js';
import type { Db } from '../storage/db.js';
import { parseWith } from '../validation.js';
import { groupIdByName } from './client-repo.js';
import { DEADLINE_FORMS, parseDeadline } from './deadline.js';
import { text } from './fields.js';
import { writeCatalog } from '../storage/catalog-writer.js';
import type { Page } from '../server/paging.js';
import {
  deploymentPage,
  findDeployment,
  type DeploymentFilter,
  type DeploymentQuery,
} from './deployment-list.js';
import { ACTIONS, type DeploymentAction } from './vocabulary.js';

export { ACTIONS, type DeploymentAction };

/** `upcat approve` and `POST /v1/deployments` (issue 5 item 7); unknown fields are errors. */
export const deploymentSchema = z
  .object({
    updateId: z.string().regex(/^[0-9a-fA-F-]{36}$/, 'must be an update ID (GUID)'),
    group: text(128),
    action: z.enum(ACTIONS),
    deadline: z
      .string()
      .max(64)
      .refine((s) => parseDeadline(s) !== undefined, `must be ${DEADLINE_FORMS}`)
      .optional(),
    percent: z.number().int().min(1).max(100).default(100),
  })
  .strict();

export type DeploymentInput = z.input<typeof deploymentSchema>;

export interface DeploymentView {
  /** The deployment's own ID, which `PATCH|DELETE /v1/deployments/:id` name. */
  id: number;
  updateId: string;
  group: string;
  action: DeploymentAction;
  deadline: string | null;
  percent: number;
  catalogVersion: number;
}

/** `PATCH /v1/deployments/:id`, `upcat deployments set`: what may change in place. */
export const deploymentChangeSchema = z
  .object({
    /** null clears the deadline. */
    deadline: z
      .string()
      .max(64)
      .refine((s) => parseDeadline(s) !== undefined, `must be ${DEADLINE_FORMS}`)
      .nullable()
      .optional(),
    percent: z.number().int().min(1).max(100).optional(),
    /** The same as `percent` (the word); give one of the two. */
    percentage: z.number().int().min(1).max(100).optional(),
  })
  .strict()
  .refine((c) => c.percent === undefined || c.percentage === undefined, {
    message: 'give percent or percentage, not both',
    path: ['percentage'],
  })
  .refine(
    (c) => c.deadline !== undefined || c.percent !== undefined || c.percentage !== undefined,
    { message: 'give deadline, percentage or both', path: ['deadline'] },
  );

/** What removing a deployment answers. */
export interface DeploymentRemoval {
  id: number;
  updateId: string;
  group: string;
  catalogVersion: number;
}

/**
 * Deployments (approvals): update × group → action. Each change moves the catalog version in
 * the same transaction as the row (catalog lock held), so a sync sees it whole or not at all.
 */
export class DeploymentService {
  constructor(private readonly deps: { db: Db; log: Logger }) {}

  async approve(input: unknown, actor: string): Promise<DeploymentView> {
    const view = await writeCatalog(this.deps.db, (trx) => this.approveIn(trx, input, actor));
    this.deps.log.info(
      { updateId: view.updateId, group: view.group, action: view.action },
      'deployment approved',
    );
    return view;
  }

  /**
   * The approval as one step of a caller's transaction (promote.ts checks, then approves);
   * `audited` lets the caller record the change as what it was, in the one audit row.
   */
  async approveIn(
    trx: Knex.Transaction,
    input: unknown,
    actor: string,
    audited: { action: string; detail?: Record<string, unknown> } = {
      action: 'deployment.approve',
    },
  ): Promise<DeploymentView> {
    const d = parseWith(deploymentSchema, input, 'deployment');
    const updateId = d.updateId.toLowerCase();
    const deadline = d.deadline === undefined ? null : (parseDeadline(d.deadline) ?? null);
    await repo.lockCatalog(trx);
    const update = await repo.findUpdate(trx, updateId);
    if (update === undefined)
      throw notFound(`updateId: update ${updateId} does not exist`, { updateId });
    if (update.state !== 'active') {
      throw conflict(`updateId: update ${updateId} is ${update.state} and cannot be deployed`, {
        updateId,
      });
    }
    if (update.superseded_by !== null) {
      throw conflict(
        `updateId: update ${updateId} is superseded by ${update.superseded_by}; deploy that one`,
        {
          updateId,
          supersededBy: update.superseded_by,
        },
      );
    }
    const groupId = await groupIdByName(trx, d.group);
    if (groupId === undefined) {
      throw new UpcatError('not_found', `group: "${d.group}" does not exist`, {
        details: { group: d.group },
      });
    }
    const catalogVersion = await repo.nextCatalogVersion(trx, {
      reason: 'approve',
      updateId,
      actor,
    });
    const row = {
      action: d.action,
      deadline,
      percent: d.percent,
      catalog_version: catalogVersion,
    };
    const existing = (await trx('deployments')
      .where({ update_id: updateId, group_id: groupId })
      .first('id')) as { id: number } | undefined;
    let id = existing?.id;
    if (existing === undefined) {
      const [inserted] = (await trx('deployments')
        .insert({ update_id: updateId, group_id: groupId, created_at: repo.now(), ...row })
        .returning('id')) as Array<{ id: number } | number>;
      id = typeof inserted === 'number' ? inserted : inserted?.id;
    } else {
      await trx('deployments').where({ id: existing.id }).update(row);
    }
    await repo.audit(trx, {
      actor,
      action: audited.action,
      target: updateId,
      detail: { group: d.group, ...row, ...audited.detail },
    });
    return {
      id: Number(id),
      updateId,
      group: d.group,
      action: d.action,
      deadline,
      percent: d.percent,
      catalogVersion,
    };
  }

  /** Every deployment (that the filter keeps), in ID order. */
  async list(filter: DeploymentFilter = {}): Promise<DeploymentView[]> {
    const all: DeploymentView[] = [];
    let after: number | undefined;
    for (;;) {
      const page = await this.page({ filter, limit: 1000, after });
      all.push(...page.items);
      if (page.next === null) return all;
      after = page.items[page.items.length - 1]?.id;
    }
  }

  /** One page of deployments (`GET /v1/deployments`): filtered, in ID order. */
  page(query: DeploymentQuery): Promise<Page<DeploymentView>> {
    return deploymentPage(this.deps.db, query);
  }

  /**
   * Changes a deployment's deadline or rollout percentage in place. Like an approval it moves
   * the catalog version in the same transaction, so every client's next sync recomputes its
   * policy (sync/policy.ts) and the caches keyed on the version let go (storage/changes.ts).
   * A change to what is already there is no change: no new version, no audit row.
   */
  async change(id: number, input: unknown, actor: string): Promise<DeploymentView> {
    const c = parseWith(deploymentChangeSchema, input, 'deployment change');
    const percent = c.percent ?? c.percentage;
    const view = await writeCatalog(this.deps.db, async (trx) => {
      await repo.lockCatalog(trx);
      const before = await mustFind(trx, id);
      const after = {
        deadline:
          c.deadline === undefined
            ? before.deadline
            : c.deadline === null
              ? null
              : (parseDeadline(c.deadline) ?? null),
        percent: percent ?? before.percent,
      };
      if (after.deadline === before.deadline && after.percent === before.percent) return before;
      const catalogVersion = await repo.nextCatalogVersion(trx, {
        reason: 'deployment-change',
        updateId: before.updateId,
        actor,
      });
      await trx('deployments')
        .where({ id })
        .update({ ...after, catalog_version: catalogVersion });
      await repo.audit(trx, {
        actor,
        action: 'deployment.change',
        target: before.updateId,
        detail: {
          id,
          group: before.group,
          before: { deadline: before.deadline, percent: before.percent },
          after,
          catalogVersion,
        },
      });
      return { ...before, ...after, catalogVersion };
    });
    this.deps.log.info(
      { id, deadline: view.deadline, percent: view.percent },
      'deployment changed',
    );
    return view;
  }

  /** Removes a deployment: its update leaves the policy of the group's clients. */
  async remove(id: number, actor: string): Promise<DeploymentRemoval> {
    const removed = await writeCatalog(this.deps.db, async (trx) => {
      await repo.lockCatalog(trx);
      const d = await mustFind(trx, id);
      await trx('deployments').where({ id }).delete();
      const catalogVersion = await repo.nextCatalogVersion(trx, {
        reason: 'deployment-remove',
        updateId: d.updateId,
        actor,
      });
      await repo.audit(trx, {
        actor,
        action: 'deployment.remove',
        target: d.updateId,
        detail: { id, group: d.group, action: d.action, deadline: d.deadline, percent: d.percent },
      });
      return { id, updateId: d.updateId, group: d.group, catalogVersion };
    });
    this.deps.log.info({ id, updateId: removed.updateId }, 'deployment removed');
    return removed;
  }
}

async function mustFind(trx: Knex.Transaction, id: number): Promise<DeploymentView> {
  const d = await findDeployment(trx, id);
  if (d === undefined) throw notFound(`id: deployment ${id} does not exist`, { id });
  return d;
}
