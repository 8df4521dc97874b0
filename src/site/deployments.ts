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

export const ACTIONS = ['install', 'uninstall', 'optional'] as const;
export type DeploymentAction = (typeof ACTIONS)[number];

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
  updateId: string;
  group: string;
  action: DeploymentAction;
  deadline: string | null;
  percent: number;
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
    if (existing === undefined) {
      await trx('deployments').insert({
        update_id: updateId,
        group_id: groupId,
        created_at: repo.now(),
        ...row,
      });
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
      updateId,
      group: d.group,
      action: d.action,
      deadline,
      percent: d.percent,
      catalogVersion,
    };
  }

  async list(): Promise<DeploymentView[]> {
    const rows = (await this.deps
      .db('deployments as d')
      .join('groups as g', 'g.id', 'd.group_id')
      .orderBy('d.id')
      .select(
        'd.update_id',
        'g.name',
        'd.action',
        'd.deadline',
        'd.percent',
        'd.catalog_version',
      )) as Array<{
      update_id: string;
      name: string;
      action: DeploymentAction;
      deadline: string | null;
      percent: number;
      catalog_version: number | string;
    }>;
    return rows.map((r) => ({
      updateId: r.update_id,
      group: r.name,
      action: r.action,
      deadline: r.deadline,
      percent: Number(r.percent),
      catalogVersion: Number(r.catalog_version),
    }));
  }
}
