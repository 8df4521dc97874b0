import type { Db } from '../storage/db.js';
import { notFound } from '../errors.js';
import { ALL_COMPUTERS, UNASSIGNED } from './client-repo.js';
import type { DeploymentAction } from './deployments.js';
import { inRollout } from './rollout.js';

export interface RevisionReport {
  updateId: string;
  revision: number;
  title: string;
  installed: number;
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

const FINAL: Record<string, 'installed' | 'failed' | 'notApplicable' | undefined> = {
  installed: 'installed',
  uninstalled: 'installed',
  failed: 'failed',
  not_applicable: 'notApplicable',
};

/** Compliance reports (issue 5 item 10), read-only, for `upcat report` and GET /v1/reports/... */
export class ReportService {
  constructor(private readonly deps: { db: Db }) {}

  /** Per latest revision of every deployed update: installed, failed, pending, not applicable. */
  async revisions(): Promise<RevisionReport[]> {
    const db = this.deps.db;
    const deployments = (await db('deployments as d')
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
      .select(
        'd.update_id',
        'd.action',
        'd.percent',
        'd.group_id',
        'g.name as group',
        'r.revision_number',
        'r.title',
      )) as Array<{
      update_id: string;
      action: DeploymentAction;
      percent: number;
      group_id: number;
      group: string;
      revision_number: number;
      title: string;
    }>;
    const clients = (await db('clients')
      .where({ approval: 'approved', record_state: 'active' })
      .whereNot('blocked', true)
      .select('client_id')) as Array<{ client_id: string }>;
    const memberships = (await db('client_groups').select('client_id', 'group_id')) as Array<{
      client_id: string;
      group_id: number;
    }>;
    const groupsOf = new Map<string, Set<number>>();
    for (const m of memberships)
      (groupsOf.get(m.client_id) ?? groupsOf.set(m.client_id, new Set()).get(m.client_id))?.add(
        Number(m.group_id),
      );

    const out: RevisionReport[] = [];
    for (const updateId of [...new Set(deployments.map((d) => d.update_id))]) {
      const deps = deployments.filter((d) => d.update_id === updateId && d.action !== 'optional');
      const first = deployments.find((d) => d.update_id === updateId);
      if (first === undefined) continue;
      const revision = Number(first.revision_number);
      const finals = await this.finalStates(updateId, revision);
      const counts = { installed: 0, failed: 0, notApplicable: 0 };
      for (const state of finals.values()) counts[state] += 1;
      let pending = 0;
      for (const { client_id: id } of clients) {
        if (finals.has(id)) continue;
        const named = groupsOf.get(id);
        const targeted = deps.some(
          (d) =>
            (d.group === ALL_COMPUTERS ||
              (d.group === UNASSIGNED
                ? named === undefined
                : named?.has(Number(d.group_id)) === true)) &&
            inRollout(id, updateId, Number(d.percent)),
        );
        if (targeted) pending += 1;
      }
      out.push({ updateId, revision, title: first.title, ...counts, pending });
    }
    return out;
  }

  async clientHistory(clientId: string, limit = 1000): Promise<HistoryEntry[]> {
    const id = clientId.toLowerCase();
    if ((await this.deps.db('clients').where({ client_id: id }).first('client_id')) === undefined) {
      throw notFound(`client ${clientId} does not exist`, { clientId });
    }
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

  /** Clients (not obsolete) not seen for `days` days. */
  async stale(days: number, nowMs: number = Date.now()): Promise<StaleClient[]> {
    const cutoff = new Date(nowMs - days * 24 * 60 * 60 * 1000).toISOString();
    const rows = (await this.deps
      .db('clients')
      .whereNot('record_state', 'obsolete')
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

  /** The latest final state of each client for one revision (authenticated messages only). */
  private async finalStates(
    updateId: string,
    revision: number,
  ): Promise<Map<string, 'installed' | 'failed' | 'notApplicable'>> {
    const rows = (await this.deps
      .db('state_messages')
      .where({ update_id: updateId, revision_number: revision, authenticated: true })
      .whereIn('state', Object.keys(FINAL))
      .orderBy('received_at')
      .orderBy('sent_at')
      .select('client_id', 'state')) as Array<{ client_id: string; state: string }>;
    const out = new Map<string, 'installed' | 'failed' | 'notApplicable'>();
    for (const r of rows) {
      const s = FINAL[r.state];
      if (s !== undefined) out.set(r.client_id, s);
    }
    return out;
  }
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
