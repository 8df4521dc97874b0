import { createHash } from 'node:crypto';
import { canonicalJson } from '../catalog/canonical-json.js';
import { ALL_COMPUTERS, UNASSIGNED, type Q } from './client-repo.js';
import { inRollout } from './rollout.js';

/**
 * Whose state messages count as evidence (issue 13 item 4): promotion, the revisions report and
 * any rollout decision count only clients that receive policy (approved, active, not blocked;
 * the same rule as `receivesPolicy` in src/sync/policy.ts) and that the deployment targets (its
 * group, and inside its rollout percentage). Anyone can register a pending client naming a ring
 * as its group and post `installed`: such messages are stored, never counted.
 */
export interface CountedClients {
  /** Named groups (IDs) of every counted client; an empty set means Unassigned. */
  readonly groupsOf: ReadonlyMap<string, ReadonlySet<number>>;
}

export interface TargetingDeployment {
  update_id: string;
  group: string;
  group_id: number;
  percent: number;
}

export async function countedClients(q: Q): Promise<CountedClients> {
  const clients = (await q('clients')
    .where({ approval: 'approved', record_state: 'active', blocked: false })
    .select('client_id')) as Array<{ client_id: string }>;
  const groupsOf = new Map<string, Set<number>>(clients.map((c) => [c.client_id, new Set()]));
  const memberships = (await q('client_groups').select('client_id', 'group_id')) as Array<{
    client_id: string;
    group_id: number;
  }>;
  for (const m of memberships) groupsOf.get(m.client_id)?.add(Number(m.group_id));
  return { groupsOf };
}

/** Whether a deployment targets a counted client: its group, and inside its rollout. */
export function targets(
  counted: CountedClients,
  clientId: string,
  d: TargetingDeployment,
): boolean {
  const named = counted.groupsOf.get(clientId);
  if (named === undefined) return false;
  const inGroup =
    d.group === ALL_COMPUTERS ||
    (d.group === UNASSIGNED ? named.size === 0 : named.has(Number(d.group_id)));
  return inGroup && inRollout(clientId, d.update_id, Number(d.percent));
}

/** The counted clients a deployment targets. */
export function targetedBy(counted: CountedClients, d: TargetingDeployment): string[] {
  return [...counted.groupsOf.keys()].filter((id) => targets(counted, id, d));
}

/**
 * The revisions of an update whose outcome on a client is the outcome of `latest`: `latest`
 * and the run of revisions just before it that install the same thing (same handler, rules,
 * version, files and relationships). A revision that changes only metadata (a title or
 * description) therefore keeps the install counts of the one it revises.
 */
export async function sameInstallRevisions(
  q: Q,
  updateId: string,
  latest: number,
): Promise<number[]> {
  const revisions = (await q('revisions')
    .where({ update_id: updateId })
    .where('revision_number', '<=', latest)
    .orderBy('revision_number', 'desc')
    .select(
      'id',
      'revision_number',
      'handler',
      'is_installed',
      'is_installable',
      'version',
    )) as Array<{
    id: number;
    revision_number: number;
    handler: string;
    is_installed: string | null;
    is_installable: string | null;
    version: string;
  }>;
  const ids = revisions.map((r) => r.id);
  const files = (await q('files')
    .whereIn('revision_id', ids)
    .select('revision_id', 'name', 'sha256', 'kind')) as Array<Record<string, unknown>>;
  const relations = (await q('relationships')
    .whereIn('revision_id', ids)
    .select('revision_id', 'kind', 'group_index', 'target_update_id')) as Array<
    Record<string, unknown>
  >;
  const fingerprint = (r: (typeof revisions)[number]): string => {
    const mine = <T extends Record<string, unknown>>(rows: T[]): string[] =>
      rows
        .filter((x) => Number(x['revision_id']) === Number(r.id))
        .map(({ revision_id: _omit, ...rest }) => canonicalJson(rest))
        .sort();
    return createHash('sha256')
      .update(
        canonicalJson({
          handler: r.handler,
          isInstalled: r.is_installed,
          isInstallable: r.is_installable,
          version: r.version,
          files: mine(files),
          relations: mine(relations),
        }),
      )
      .digest('hex');
  };
  const out: number[] = [];
  let first: string | undefined;
  for (const r of revisions) {
    const f = fingerprint(r);
    first ??= f;
    if (f !== first) break;
    out.push(Number(r.revision_number));
  }
  return out.length === 0 ? [latest] : out;
}
