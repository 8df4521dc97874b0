import type { Logger } from 'pino';
import { z } from 'zod';
import { UpcatError } from '../errors.js';
import { audit } from '../storage/catalog-repo.js';
import type { Db } from '../storage/db.js';
import {
  bumpEpoch,
  findClient,
  groupsOf,
  lockKey,
  normalizeClient,
  type ClientRow,
  type Q,
} from './client-repo.js';
import { receivesPolicy } from '../sync/policy.js';
import type { ClientCertificates } from './certificates.js';
import { resolveClient } from './client-names.js';
import { statusOf, type ClientStatus } from './registration.js';
import type { Channel } from './channels.js';
import { clientRowsPage, type ClientQuery } from './client-list.js';
import type { Page } from '../server/paging.js';

/** One client record as `upcat clients list --json` and the admin API show it (issue 5 item 10). */
export interface ClientView {
  clientId: string;
  hardwareId: string;
  name: string;
  os: string;
  architecture: string;
  clientVersion: string;
  status: ClientStatus;
  approval: ClientRow['approval'];
  recordState: ClientRow['record_state'];
  blocked: boolean;
  trusted: boolean;
  groups: string[];
  replacedBy: string | null;
  conflictWith: string | null;
  clonedFrom: string | null;
  cloneSuspected: boolean;
  createdAt: string;
  lastContact: string | null;
  /** upcat's agent, or Windows' own Windows Update Agent over MS-WUSP (issue 12). */
  channel: Channel;
}

export type Resolution = 'merge' | 'new' | 'block';

/** `POST /v1/clients/:clientId/resolve` body: how to resolve an identity conflict. */
export const resolutionSchema = z.object({
  how: z.enum(['merge', 'new', 'block'], { error: 'must be merge, new or block' }),
});

/**
 * What administrators do to client records: approve, block, unblock, list, and resolve
 * identity conflicts (issue 5 items 3-5). Every change moves the client's policy epoch, so its
 * next sync is a full one, and writes an audit row.
 */
export class ClientAdminService {
  constructor(private readonly deps: { db: Db; log: Logger; certificates: ClientCertificates }) {}

  async list(filter: { recordState?: ClientRow['record_state'] } = {}): Promise<ClientView[]> {
    const query = this.deps.db('clients').orderBy('created_at').orderBy('client_id');
    if (filter.recordState !== undefined) query.where({ record_state: filter.recordState });
    const rows = ((await query) as Array<Record<string, unknown>>).map(normalizeClient);
    const groups = await groupsOf(
      this.deps.db,
      rows.map((r) => r.client_id),
    );
    return rows.map((r) => viewOf(r, groups.get(r.client_id) ?? []));
  }

  /** One page of the filtered clients list of the admin API and `upcat clients list`. */
  async page(query: ClientQuery): Promise<Page<ClientView>> {
    const page = await clientRowsPage(this.deps.db, query);
    const groups = await groupsOf(
      this.deps.db,
      page.items.map((r) => r.client_id),
    );
    return {
      items: page.items.map((r) => viewOf(r, groups.get(r.client_id) ?? [])),
      next: page.next,
    };
  }

  async get(clientId: string): Promise<ClientView> {
    const row = await this.mustFind(this.deps.db, clientId);
    const groups = await groupsOf(this.deps.db, [row.client_id]);
    return viewOf(row, groups.get(row.client_id) ?? []);
  }

  /** Records held in `conflict`, each with the record it duplicates. */
  async conflicts(): Promise<Array<ClientView & { duplicates: ClientView | null }>> {
    const all = await this.list();
    const byId = new Map(all.map((c) => [c.clientId, c]));
    return all
      .filter((c) => c.recordState === 'conflict')
      .map((c) => ({
        ...c,
        duplicates: c.conflictWith === null ? null : (byId.get(c.conflictWith) ?? null),
      }));
  }

  approve(clientId: string, actor: string): Promise<ClientView> {
    return this.change(clientId, actor, 'client.approve', async (trx, row) => {
      if (row.record_state === 'obsolete') throw obsolete(row);
      await trx('clients').where({ client_id: row.client_id }).update({ approval: 'approved' });
      await this.issueFromRequest(trx, { ...row, approval: 'approved' });
    });
  }

  /** Native mode: blocking also revokes the client's certificates (the CRL lists them). */
  block(clientId: string, actor: string): Promise<ClientView> {
    return this.change(clientId, actor, 'client.block', async (trx, row) => {
      await trx('clients').where({ client_id: row.client_id }).update({ blocked: true });
      await this.deps.certificates.revokeAll(trx, row.client_id);
    });
  }

  /** A revoked certificate stays revoked; an approved client gets a new one from its request. */
  unblock(clientId: string, actor: string): Promise<ClientView> {
    return this.change(clientId, actor, 'client.unblock', async (trx, row) => {
      await trx('clients').where({ client_id: row.client_id }).update({ blocked: false });
      await this.issueFromRequest(trx, { ...row, blocked: false });
    });
  }

  /** Issues a certificate from the stored request when the client may have one and has none. */
  private async issueFromRequest(trx: Q, row: ClientRow): Promise<void> {
    const csr = row.csr_pem ?? null;
    if (csr === null || !receivesPolicy(row)) return;
    if ((await this.deps.certificates.current(trx, row.client_id)) !== undefined) return;
    await this.deps.certificates.issue(trx, row.client_id, csr);
  }

  /**
   * `upcat clients resolve <id> --merge | --new | --block` for a record held in `conflict`:
   * merge: the same machine as the record it duplicates, which it replaces (approval, trust and
   * groups carry over); new: a different machine, both stay active; block: refused from now on.
   */
  resolve(clientId: string, how: Resolution, actor: string): Promise<ClientView> {
    return this.change(clientId, actor, `client.resolve.${how}`, async (trx, row) => {
      if (row.record_state !== 'conflict') {
        throw new UpcatError(
          'conflict',
          `client ${row.client_id} is ${row.record_state}, not in conflict`,
        );
      }
      if (how === 'block') {
        await trx('clients').where({ client_id: row.client_id }).update({ blocked: true });
        await this.deps.certificates.revokeAll(trx, row.client_id);
        return;
      }
      const old = row.conflict_with === null ? undefined : await findClient(trx, row.conflict_with);
      const update: Record<string, unknown> = { record_state: 'active', conflict_with: null };
      if (how === 'merge' && old !== undefined && old.record_state !== 'obsolete') {
        update['approval'] = old.approval === 'approved' ? 'approved' : row.approval;
        update['trusted'] = old.trusted || row.trusted;
        const groups = (await trx('client_groups').where({ client_id: old.client_id })) as Array<{
          group_id: number;
        }>;
        for (const g of groups) {
          await trx('client_groups')
            .insert({ client_id: row.client_id, group_id: g.group_id })
            .onConflict(['client_id', 'group_id'])
            .ignore();
        }
        await trx('clients')
          .where({ client_id: old.client_id })
          .update({ record_state: 'obsolete', replaced_by: row.client_id });
        await bumpEpoch(trx, [old.client_id]);
      }
      await trx('clients').where({ client_id: row.client_id }).update(update);
    });
  }

  private async change(
    clientId: string,
    actor: string,
    action: string,
    apply: (trx: Q, row: ClientRow) => Promise<void>,
  ): Promise<ClientView> {
    const id = await this.deps.db.transaction(async (trx) => {
      const first = await this.mustFind(trx, clientId);
      // The hardware lock orders this change with registrations of the same machine.
      await lockKey(trx, first.hardware_id);
      const row = await this.mustFind(trx, first.client_id);
      await apply(trx, row);
      await bumpEpoch(trx, [row.client_id]);
      await audit(trx, { actor, action, target: row.client_id });
      return row.client_id;
    });
    this.deps.log.info({ clientId: id, action }, 'client changed');
    return this.get(id);
  }

  /** A client by ID, unique ID prefix or name (issue 14 item 3: site/client-names.ts). */
  private async mustFind(q: Q, clientId: string): Promise<ClientRow> {
    return resolveClient(q, clientId, 'clientId');
  }
}

function obsolete(row: ClientRow): UpcatError {
  return new UpcatError(
    'conflict',
    `client ${row.client_id} is obsolete (replaced by ${row.replaced_by ?? 'a newer record'})`,
  );
}

function viewOf(r: ClientRow, groups: string[]): ClientView {
  return {
    clientId: r.client_id,
    hardwareId: r.hardware_id,
    name: r.name,
    os: r.os,
    architecture: r.architecture,
    clientVersion: r.client_version,
    status: statusOf(r),
    approval: r.approval,
    recordState: r.record_state,
    blocked: r.blocked,
    trusted: r.trusted,
    groups,
    replacedBy: r.replaced_by,
    conflictWith: r.conflict_with,
    clonedFrom: r.cloned_from,
    cloneSuspected: r.clone_suspected,
    createdAt: r.created_at,
    lastContact: r.last_contact,
    channel: (r as ClientRow & { channel?: string }).channel === 'wusp' ? 'wusp' : 'agent',
  };
}
