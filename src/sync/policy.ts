import { createHash } from 'node:crypto';
import { canonicalJson } from '../catalog/canonical-json.js';
import { ALL_COMPUTERS, UNASSIGNED, type ClientRow, type Q } from '../site/client-repo.js';
import type { DeploymentAction } from '../site/deployments.js';
import { inRollout } from '../site/rollout.js';
import type { ZonedWindow } from '../site/maintenance-window.js';
import { windowsOfGroups } from '../site/maintenance-window-store.js';

/** One deployment as a client's policy states it (issue 5 item 8). */
export interface PolicyEntry {
  updateId: string;
  revision: number;
  action: DeploymentAction;
  deadline: string | null;
  /** The payload files; the agent installs only when these agree with the TUF targets. */
  files: Array<{ name: string; sha256: string; sha1: string; size: number }>;
  /**
   * `install` entries only, and only when one of the client's groups has maintenance windows
   * (issue 14 item 6): before the deadline the agent installs only while one of them is open.
   * Absent otherwise, so an entry's digest (and the anchors of existing clients) stay as they were.
   */
  maintenanceWindows?: ZonedWindow[];
}

/** When groups disagree on an update, install wins, then uninstall (WSUS precedence). */
const RANK: Record<DeploymentAction, number> = { install: 3, uninstall: 2, optional: 1 };

/** What a policy depends on of the client itself (its groups are passed or read by ID). */
export type PolicySubject = Pick<ClientRow, 'client_id' | 'approval' | 'record_state' | 'blocked'>;

/** Whether a client may receive deployment policy at all (issue 5 item 4). */
export function receivesPolicy(client: PolicySubject): boolean {
  return client.approval === 'approved' && client.record_state === 'active' && !client.blocked;
}

/**
 * The effective policy of one client: the deployments of its groups (its named groups, All
 * Computers, and Unassigned when it has no named group), for updates that are active and not
 * superseded, at their latest revision when it has its payload (not awaiting content), within
 * the rollout percentage. Sorted by update ID. `groupIds`: the client's named groups when the
 * caller has read them already (sync/policy-cache.ts).
 */
export async function computePolicy(
  q: Q,
  client: PolicySubject,
  groupIds?: readonly number[],
): Promise<PolicyEntry[]> {
  if (!receivesPolicy(client)) return [];
  const named =
    groupIds?.map((group_id) => ({ group_id })) ??
    ((await q('client_groups').where({ client_id: client.client_id }).select('group_id')) as Array<{
      group_id: number;
    }>);
  const builtin = named.length === 0 ? [ALL_COMPUTERS, UNASSIGNED] : [ALL_COMPUTERS];
  const rows = (await q('deployments as d')
    .join('updates as u', 'u.update_id', 'd.update_id')
    .join('revisions as r', function latest() {
      this.on('r.update_id', '=', 'u.update_id').andOn(
        'r.revision_number',
        '=',
        'u.latest_revision',
      );
    })
    .where('u.state', 'active')
    .whereNull('u.superseded_by')
    // A vendor package imported without its payload is never offered (issue 11 item 3).
    .where('r.awaiting_content', false)
    .where((w) => {
      w.whereIn(
        'd.group_id',
        named.map((g) => g.group_id),
      ).orWhereIn('d.group_id', q('groups').whereIn('name', builtin).select('id'));
    })
    .select(
      'd.update_id',
      'd.action',
      'd.deadline',
      'd.percent',
      'r.id as revision_id',
      'r.revision_number',
    )) as Array<{
    update_id: string;
    action: DeploymentAction;
    deadline: string | null;
    percent: number;
    revision_id: number;
    revision_number: number;
  }>;

  const chosen = new Map<string, (typeof rows)[number]>();
  for (const row of rows) {
    if (!inRollout(client.client_id, row.update_id, Number(row.percent))) continue;
    const held = chosen.get(row.update_id);
    if (held === undefined || RANK[row.action] > RANK[held.action]) chosen.set(row.update_id, row);
    else if (RANK[row.action] === RANK[held.action] && earlier(row.deadline, held.deadline))
      chosen.set(row.update_id, row);
  }
  const picked = [...chosen.values()];
  const windows = picked.some((p) => p.action === 'install')
    ? await clientWindows(q, named, builtin)
    : [];
  const files =
    picked.length === 0
      ? []
      : ((await q('files')
          .whereIn(
            'revision_id',
            picked.map((p) => p.revision_id),
          )
          .orderBy('id')
          .select('revision_id', 'name', 'sha256', 'sha1', 'size')) as Array<{
          revision_id: number;
          name: string;
          sha256: string;
          sha1: string;
          size: number | string;
        }>);
  return picked
    .map((p) => ({
      updateId: p.update_id,
      revision: Number(p.revision_number),
      action: p.action,
      deadline: p.deadline,
      files: files
        .filter((f) => Number(f.revision_id) === Number(p.revision_id))
        .map((f) => ({ name: f.name, sha256: f.sha256, sha1: f.sha1, size: Number(f.size) })),
      ...(p.action === 'install' && windows.length > 0 ? { maintenanceWindows: windows } : {}),
    }))
    .sort((a, b) => (a.updateId < b.updateId ? -1 : a.updateId > b.updateId ? 1 : 0));
}

/**
 * The maintenance windows of every group the client is in, builtin ones included: a client
 * may install while any of them is open (as with ConfigMgr's collections, windows add up).
 */
async function clientWindows(
  q: Q,
  named: ReadonlyArray<{ group_id: number }>,
  builtin: readonly string[],
): Promise<ZonedWindow[]> {
  return windowsOfGroups(
    q,
    named.map((g) => Number(g.group_id)),
    builtin,
  );
}

/** A deadline, when set, beats none; the earlier of two wins. */
function earlier(a: string | null, b: string | null): boolean {
  if (a === null) return false;
  return b === null || a < b;
}

/** A short digest of one entry, kept in the anchor to tell what changed since. */
export function entryDigest(entry: PolicyEntry): string {
  return createHash('sha256').update(canonicalJson(entry)).digest('hex').slice(0, 24);
}
