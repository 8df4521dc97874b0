import type { Db } from '../storage/db.js';
import { resolveClient } from './client-names.js';
import type { DeploymentAction } from './deployments.js';
import { countedClients, sameInstallRevisions, targetedBy } from './evidence.js';

/**
 * Where a deployed revision stands: `active` while clients receive it, otherwise why it left the
 * policy (the same filter as `computePolicy`); a revision that left the policy has no pending
 * clients, since no client is asked to install it any more.
 */
export type RevisionStatus = 'active' | 'superseded' | 'expired' | 'declined';

export interface RevisionReport {
  updateId: string;
  revision: number;
  /** The group of the deployment this row counts (one row per update and group). */
  group: string;
  title: string;
  status: RevisionStatus;
  /** Installed by the agent (its installer ran and succeeded). */
  installed: number;
  /** Found installed already (its IsInstalled rule was true): nothing ran. */
  alreadyInstalled: number;
  /** Removed by an uninstall deployment. */
  uninstalled: number;
  failed: number;
  /** Targeted (install or uninstall) by policy, with no final state reported yet. */
  pending: number;
  notApplicable: number;
}

export interface HistoryEntry {
  messageId: string;
  topic: string;
  updateId: string | null;
  revision: number | null;
  state: string;
  code: number | null;
  detail: string | null;
  sentAt: string | null;
  receivedAt: string;
}

export interface StaleClient {
  clientId: string;
  name: string;
  hardwareId: string;
  lastContact: string | null;
}

export interface ClientInstallFailure {
  hardwareId: string | null;
  name: string | null;
  source: string | null;
  code: number | null;
  detail: string | null;
  failures: number;
  lastAt: string;
}

type FinalCount = 'installed' | 'alreadyInstalled' | 'uninstalled' | 'failed' | 'notApplicable';

/** The state messages that end a revision on a client, and the count each one adds to. */
const FINAL: Readonly<Record<string, FinalCount>> = {
  installed: 'installed',
  already_installed: 'alreadyInstalled',
  uninstalled: 'uninstalled',
  failed: 'failed',
  not_applicable: 'notApplicable',
};

interface DeploymentRow {
  update_id: string;
  action: DeploymentAction;
  percent: number;
  group_id: number;
  group: string;
  revision_number: number;
  title: string;
  state: string;
  superseded_by: string | null;
}

/** Compliance reports (issue 5 item 10), read-only, for `upcat report` and GET /v1/reports/... */
export class ReportService {
  constructor(private readonly deps: { db: Db }) {}

  /**
   * Per deployment (an update's latest revision in one group): how many of the clients it
   * targets installed it, found it installed already, uninstalled it, failed, are pending, or
   * found it not applicable. Only counted clients (evidence.ts: approved, active, unblocked, in
   * the group and the rollout) appear; a revision that changes only metadata keeps the counts
   * of the one it revises (issue 13 item 4).
   */
  async revisions(): Promise<RevisionReport[]> {
    const deployments = await this.deployments();
    const counted = await countedClients(this.deps.db);
    const finalsOf = new Map<string, Map<string, FinalCount>>();
    const out: RevisionReport[] = [];
    for (const d of deployments) {
      const revision = Number(d.revision_number);
      const status = statusOf(d);
      let finals = finalsOf.get(d.update_id);
      if (finals === undefined) {
        finals = await this.finalStates(d.update_id, revision);
        finalsOf.set(d.update_id, finals);
      }
      const counts: Record<FinalCount, number> = {
        installed: 0,
        alreadyInstalled: 0,
        uninstalled: 0,
        failed: 0,
        notApplicable: 0,
      };
      const targeted = targetedBy(counted, d);
      for (const id of targeted) {
        const state = finals.get(id);
        if (state !== undefined) counts[state] += 1;
      }
      const pending =
        status !== 'active' || d.action === 'optional'
          ? 0
          : targeted.filter((id) => !finals.has(id)).length;
      out.push({
        updateId: d.update_id,
        revision,
        group: d.group,
        title: d.title,
        status,
        ...counts,
        pending,
      });
    }
    return out;
  }

  /** Every deployment, with its update's latest revision and whether it is still in policy. */
  private async deployments(): Promise<DeploymentRow[]> {
    return (await this.deps
      .db('deployments as d')
      .join('groups as g', 'g.id', 'd.group_id')
      .join('updates as u', 'u.update_id', 'd.update_id')
      .join('revisions as r', function latest() {
        this.on('r.update_id', '=', 'u.update_id').andOn(
          'r.revision_number',
          '=',
          'u.latest_revision',
        );
      })
      .orderBy('d.update_id')
      .orderBy('g.name')
      .select(
        'd.update_id',
        'd.action',
        'd.percent',
        'd.group_id',
        'g.name as group',
        'r.revision_number',
        'r.title',
        'u.state',
        'u.superseded_by',
      )) as DeploymentRow[];
  }

  /** A client's state messages, newest first; the client by ID, unique ID prefix or name. */
  async clientHistory(clientId: string, limit = 1000): Promise<HistoryEntry[]> {
    const id = (await resolveClient(this.deps.db, clientId, 'clientId')).client_id;
    const rows = (await this.deps
      .db('state_messages')
      .where({ client_id: id })
      .orderBy('received_at', 'desc')
      .orderBy('message_id')
      .limit(limit)) as Array<Record<string, unknown>>;
    return rows.map((r) => ({
      messageId: String(r['reported_id'] ?? r['message_id']),
      topic: String(r['topic']),
      updateId: (r['update_id'] as string | null) ?? null,
      revision: r['revision_number'] === null ? null : Number(r['revision_number']),
      state: String(r['state']),
      code: r['code'] === null ? null : Number(r['code']),
      detail: textOf(r['detail']),
      sentAt: (r['sent_at'] as string | null) ?? null,
      receivedAt: String(r['received_at']),
    }));
  }

  /** Active client records (not conflicts, not replaced) not seen for `days` days. */
  async stale(days: number, nowMs: number = Date.now()): Promise<StaleClient[]> {
    const cutoff = new Date(nowMs - days * 24 * 60 * 60 * 1000).toISOString();
    const rows = (await this.deps
      .db('clients')
      .where('record_state', 'active')
      .where((w) => w.whereNull('last_contact').orWhere('last_contact', '<', cutoff))
      .orderBy('last_contact')
      .select('client_id', 'name', 'hardware_id', 'last_contact')) as Array<{
      client_id: string;
      name: string;
      hardware_id: string;
      last_contact: string | null;
    }>;
    return rows.map((r) => ({
      clientId: r.client_id,
      name: r.name,
      hardwareId: r.hardware_id,
      lastContact: r.last_contact,
    }));
  }

  /** Endpoints that reported, through the fallback status point, that the client failed to install. */
  async clientInstallFailures(): Promise<ClientInstallFailure[]> {
    const rows = (await this.deps
      .db('state_messages')
      .where({ authenticated: false })
      .where((w) =>
        w
          .where('state', 'client_install_failed')
          .orWhere((x) => x.where({ topic: 'client', state: 'failed' })),
      )
      .orderBy('received_at')
      .select('hardware_id', 'source', 'code', 'detail', 'received_at')) as Array<{
      hardware_id: string | null;
      source: string | null;
      code: number | null;
      detail: string | null;
      received_at: string;
    }>;
    const byEndpoint = new Map<string, ClientInstallFailure>();
    for (const r of rows) {
      const key = r.hardware_id ?? `source:${r.source ?? ''}`;
      const claimed = parse(r.detail);
      byEndpoint.set(key, {
        hardwareId: r.hardware_id,
        name: typeof claimed['name'] === 'string' ? claimed['name'] : null,
        source: r.source,
        code: r.code === null ? null : Number(r.code),
        detail: typeof claimed['text'] === 'string' ? claimed['text'] : null,
        failures: (byEndpoint.get(key)?.failures ?? 0) + 1,
        lastAt: r.received_at,
      });
    }
    return [...byEndpoint.values()];
  }

  /**
   * The latest final state of each client for one revision, or an earlier one that installs
   * the same thing (authenticated messages only).
   */
  private async finalStates(updateId: string, revision: number): Promise<Map<string, FinalCount>> {
    const revisions = await sameInstallRevisions(this.deps.db, updateId, revision);
    const rows = (await this.deps
      .db('state_messages')
      .where({ update_id: updateId, authenticated: true })
      .whereIn('revision_number', revisions)
      .whereIn('state', Object.keys(FINAL))
      .orderBy('received_at')
      .orderBy('sent_at')
      .select('client_id', 'state')) as Array<{ client_id: string; state: string }>;
    const out = new Map<string, FinalCount>();
    for (const r of rows) {
      const s = FINAL[r.state];
      if (s !== undefined) out.set(r.client_id, s);
    }
    return out;
  }
}

/** The same filter as `computePolicy` (src/sync/policy.ts): active and not superseded. */
function statusOf(d: DeploymentRow): RevisionStatus {
  if (d.state === 'active') return d.superseded_by === null ? 'active' : 'superseded';
  return d.state === 'declined' ? 'declined' : 'expired';
}

function parse(detail: string | null): Record<string, unknown> {
  if (detail === null) return {};
  try {
    const v: unknown = JSON.parse(detail);
    return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

function textOf(detail: unknown): string | null {
  const t = parse(typeof detail === 'string' ? detail : null)['text'];
  return typeof t === 'string' ? t : null;
}
