import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { z } from 'zod';
import { conflict, notFound } from '../errors.js';
import * as repo from '../storage/catalog-repo.js';
import type { Db } from '../storage/db.js';
import { parseWith } from '../validation.js';
import { text } from './fields.js';
import { groupIdByName } from './client-repo.js';
import {
  countedClients,
  type CountedClients,
  sameInstallRevisions,
  targets,
  type TargetingDeployment,
} from './evidence.js';
import type { DeploymentAction, DeploymentService, DeploymentView } from './deployments.js';
import { writeCatalog } from '../storage/catalog-writer.js';
import { DEFAULT_MIN_SUCCESS, percentShown } from './vocabulary.js';

export { DEFAULT_MIN_SUCCESS, percentShown };

/** `upcat promote` and `POST /v1/promotions` (issue 7); unknown fields are errors. */
export const promotionSchema = z.strictObject({
  updateId: z.string().regex(/^[0-9a-fA-F-]{36}$/, 'must be an update ID (GUID)'),
  // text(): a NUL or other control character is a 400 here, not a 500 from PostgreSQL.
  from: text(128),
  to: text(128),
  /** Installed / (installed + failed) in `from`, as a percentage, at or above which to promote. */
  minSuccess: z.number().min(0).max(100).default(DEFAULT_MIN_SUCCESS),
  /** Clients in `from` that must have reported installed or failed (issue 14 item 6). */
  minReporting: z.number().int().min(1).max(1_000_000).default(1),
  /** Rollout percentage in `to`; the source's percentage is not copied (a new ring starts whole). */
  percent: z.number().int().min(1).max(100).default(100),
});

export interface PromotionEvidence {
  revision: number;
  installed: number;
  failed: number;
  /** Clients whose latest final state is installed or failed. */
  reporting: number;
  notApplicable: number;
  /** installed / reporting × 100. */
  successRate: number;
  minSuccess: number;
  minReporting: number;
}

export interface PromotionView extends DeploymentView {
  from: string;
  evidence: PromotionEvidence;
}

interface SourceDeployment {
  action: DeploymentAction;
  deadline: string | null;
  percent: number;
}

/**
 * Promotion between rings: the deployment of an update in one group is copied to the next
 * group once the first has shown that it installs. The evidence is the latest final state each
 * member of the source group reported for the update's latest revision (authenticated state
 * messages, as in reports.ts). No evidence is a refusal, not a pass: a ring nobody reported
 * from has proved nothing. The check and the approval share one transaction (catalog lock
 * held), so the figures in the audit row are the ones the decision was made on.
 */
export class PromotionService {
  constructor(
    private readonly deps: {
      db: Db;
      log: Logger;
      deployments: Pick<DeploymentService, 'approveIn'>;
    },
  ) {}

  async promote(input: unknown, actor: string): Promise<PromotionView> {
    const p = parseWith(promotionSchema, input, 'promotion');
    const updateId = p.updateId.toLowerCase();
    if (p.from === p.to) throw conflict(`to: "${p.to}" is the source group itself`);
    const view = await writeCatalog(this.deps.db, async (trx) => {
      await repo.lockCatalog(trx);
      const update = await repo.findUpdate(trx, updateId);
      if (update === undefined)
        throw notFound(`updateId: update ${updateId} does not exist`, { updateId });
      const fromId = await groupIdByName(trx, p.from);
      if (fromId === undefined) throw notFound(`from: group "${p.from}" does not exist`);
      const source = (await trx('deployments')
        .where({ update_id: updateId, group_id: fromId })
        .first('action', 'deadline', 'percent')) as SourceDeployment | undefined;
      if (source === undefined)
        throw conflict(`from: update ${updateId} is not deployed to "${p.from}"`);
      const evidence = await evidenceIn(trx, updateId, update.latest_revision, {
        update_id: updateId,
        group: p.from,
        group_id: fromId,
        percent: Number(source.percent),
      });
      const figures = `${p.from}: ${percentShown(evidence.successRate, p.minSuccess)}% installed (${evidence.installed} of ${evidence.reporting} reporting)`;
      if (evidence.reporting === 0)
        throw conflict(
          `${p.from}: no client has reported installed or failed for update ${updateId} revision ${evidence.revision}; nothing to promote on`,
        );
      const summary = { ...evidence, minSuccess: p.minSuccess, minReporting: p.minReporting };
      if (evidence.reporting < p.minReporting)
        throw conflict(
          `${p.from}: ${evidence.reporting} client(s) reported installed or failed, below --min-reporting ${p.minReporting}`,
          { evidence: summary },
        );
      if (evidence.successRate < p.minSuccess)
        throw conflict(`${figures}, below --min-success ${p.minSuccess}`, { evidence: summary });
      const deployment = await this.deps.deployments.approveIn(
        trx,
        {
          updateId,
          group: p.to,
          action: source.action,
          deadline: source.deadline ?? undefined,
          percent: p.percent,
        },
        actor,
        { action: 'deployment.promote', detail: { from: p.from, evidence: summary } },
      );
      return { ...deployment, from: p.from, evidence: summary };
    });
    this.deps.log.info(
      { updateId, from: p.from, to: p.to, successRate: view.evidence.successRate },
      'deployment promoted',
    );
    return view;
  }
}

const FINAL: Readonly<Record<string, 'installed' | 'failed' | 'notApplicable'>> = {
  installed: 'installed',
  // An endpoint that already had the revision is evidence that it works there too.
  already_installed: 'installed',
  uninstalled: 'installed',
  failed: 'failed',
  not_applicable: 'notApplicable',
};

/**
 * The latest final state, for the update's latest revision (or an earlier one that installs the
 * same thing), of each counted client the source deployment targets (evidence.ts): approved,
 * active, unblocked, in the group and inside its rollout. Messages from anyone else are stored
 * but are not evidence (issue 13 item 4).
 */
export async function evidenceIn(
  trx: Knex | Knex.Transaction,
  updateId: string,
  revision: number,
  deployment: TargetingDeployment,
  known?: CountedClients,
): Promise<Omit<PromotionEvidence, 'minSuccess' | 'minReporting'>> {
  // A caller judging several deployments at once (the rollouts list) reads the clients once.
  const counted = known ?? (await countedClients(trx));
  const revisions = await sameInstallRevisions(trx, updateId, revision);
  const rows = (await trx('state_messages as m')
    .where({ 'm.update_id': updateId, 'm.authenticated': true })
    .whereIn('m.revision_number', revisions)
    .whereIn('m.state', Object.keys(FINAL))
    .orderBy('m.received_at')
    .orderBy('m.sent_at')
    .select('m.client_id', 'm.state')) as Array<{ client_id: string; state: string }>;
  const latest = new Map<string, 'installed' | 'failed' | 'notApplicable'>();
  for (const r of rows) {
    const s = FINAL[r.state];
    if (s !== undefined && targets(counted, r.client_id, deployment)) latest.set(r.client_id, s);
  }
  const counts = { installed: 0, failed: 0, notApplicable: 0 };
  for (const s of latest.values()) counts[s] += 1;
  const reporting = counts.installed + counts.failed;
  return {
    revision: Number(revision),
    ...counts,
    reporting,
    successRate: reporting === 0 ? 0 : (counts.installed / reporting) * 100,
  };
}
