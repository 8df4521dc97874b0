import type { Knex } from 'knex';
import type { CountedClients } from './evidence.js';
import { evidenceIn } from './promote.js';
import {
  judge,
  NO_EVIDENCE,
  type RingEvidence,
  type RingRow,
  type RolloutHistoryEntry,
  type RolloutRow,
  type RolloutView,
} from './rollouts-model.js';

type Q = Knex | Knex.Transaction;

/**
 * The evidence of one ring (promote.ts `evidenceIn`): the latest final state of each counted
 * client the ring's deployment targets, for the update's latest revision. A ring not started,
 * or whose group is gone, has none.
 */
export async function ringEvidence(
  q: Q,
  updateId: string,
  ring: RingRow,
  counted?: CountedClients,
): Promise<RingEvidence> {
  if (ring.state === 'pending' || ring.group_id === null) return NO_EVIDENCE;
  const group = (await q('groups').where({ id: ring.group_id }).first('name')) as
    { name: string } | undefined;
  const update = (await q('updates').where({ update_id: updateId }).first('latest_revision')) as
    { latest_revision: number } | undefined;
  if (group === undefined || update === undefined) return NO_EVIDENCE;
  const e = await evidenceIn(
    q,
    updateId,
    Number(update.latest_revision),
    {
      update_id: updateId,
      group: group.name,
      group_id: Number(ring.group_id),
      percent: Number(ring.percent),
    },
    counted,
  );
  return {
    installed: e.installed,
    failed: e.failed,
    reporting: e.reporting,
    notApplicable: e.notApplicable,
    successRate: e.successRate,
  };
}

/** Views of these rollouts, in the order given, with live evidence per started ring. */
export async function rolloutViews(
  q: Q,
  rows: readonly RolloutRow[],
  at = new Date(),
): Promise<RolloutView[]> {
  if (rows.length === 0) return [];
  const ids = rows.map((r) => Number(r.id));
  const rings = (await q('rollout_rings as r')
    .leftJoin('groups as g', 'g.id', 'r.group_id')
    .whereIn('r.rollout_id', ids)
    .orderBy('r.rollout_id')
    .orderBy('r.ring_index')
    .select('r.*', 'g.name as current_name')) as Array<RingRow & { current_name: string | null }>;
  const history = (await q('rollout_history')
    .whereIn('rollout_id', ids)
    .orderBy('id')
    .select('rollout_id', 'at', 'step', 'actor', 'detail')) as Array<{
    rollout_id: number;
    at: string;
    step: string;
    actor: string;
    detail: string | null;
  }>;
  const titles = await titlesOf(q, [...new Set(rows.map((r) => r.update_id))]);
  // The clients are read once for every ring of the page.
  const counted = await countedReporters(q, [...new Set(rows.map((r) => r.update_id))]);
  const out: RolloutView[] = [];
  for (const row of rows) {
    const id = Number(row.id);
    const mine = rings.filter((r) => Number(r.rollout_id) === id);
    const ringViews = [];
    let holding: string | null = null;
    for (const r of mine) {
      const evidence = await ringEvidence(q, row.update_id, r, counted);
      if (row.status === 'running' && r.state === 'active') {
        const v = judge(r, evidence, at);
        holding = v.verdict === 'hold' ? v.reason : null;
      }
      ringViews.push({
        index: Number(r.ring_index),
        group: r.current_name ?? r.group_name,
        percent: Number(r.percent),
        minSuccess: Number(r.min_success),
        minReporting: Number(r.min_reporting),
        wait: r.wait,
        state: r.state,
        startedAt: r.started_at,
        doneAt: r.done_at,
        evidence,
      });
    }
    out.push({
      id,
      name: row.name,
      updateId: row.update_id,
      title: titles.get(row.update_id) ?? '',
      action: row.action,
      deadline: row.deadline_offset,
      status: row.status,
      currentRing: Number(row.current_ring),
      createdAt: row.created_at,
      createdBy: row.created_by,
      holding,
      rings: ringViews,
      history: history
        .filter((h) => Number(h.rollout_id) === id)
        .map((h): RolloutHistoryEntry => {
          const detail =
            h.detail === null ? null : (JSON.parse(h.detail) as Record<string, unknown>);
          const ring = detail?.['ring'];
          return {
            at: h.at,
            step: h.step,
            by: h.actor,
            ring: typeof ring === 'number' ? ring : null,
            detail,
          };
        }),
    });
  }
  return out;
}

/**
 * The counted clients (evidence.ts: approved, active, unblocked, with their named groups) among
 * those that sent an authenticated state message about these updates: the only ones whose
 * states can be evidence. The same answer as `countedClients` for a rollout's evidence, without
 * reading every client of a 100,000-client site on each pass and each console refresh.
 */
export async function countedReporters(
  q: Q,
  updateIds: readonly string[],
): Promise<CountedClients> {
  const reporters = q('state_messages')
    .whereIn('update_id', [...updateIds])
    .where('authenticated', true)
    .distinct('client_id');
  const clients = (await q('clients')
    .where({ approval: 'approved', record_state: 'active', blocked: false })
    .whereIn('client_id', reporters)
    .select('client_id')) as Array<{ client_id: string }>;
  const groupsOf = new Map<string, Set<number>>(clients.map((c) => [c.client_id, new Set()]));
  if (clients.length > 0) {
    const memberships = (await q('client_groups')
      .whereIn('client_id', reporters.clone())
      .select('client_id', 'group_id')) as Array<{ client_id: string; group_id: number }>;
    for (const m of memberships) groupsOf.get(m.client_id)?.add(Number(m.group_id));
  }
  return { groupsOf };
}

/** The title of each update's latest revision. */
export async function titlesOf(q: Q, updateIds: readonly string[]): Promise<Map<string, string>> {
  if (updateIds.length === 0) return new Map();
  const rows = (await q('updates as u')
    .join('revisions as r', function latest() {
      this.on('r.update_id', '=', 'u.update_id').andOn(
        'r.revision_number',
        '=',
        'u.latest_revision',
      );
    })
    .whereIn('u.update_id', [...updateIds])
    .select('u.update_id', 'r.title')) as Array<{ update_id: string; title: string }>;
  return new Map(rows.map((r) => [r.update_id, r.title]));
}
