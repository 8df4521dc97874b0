import type { Logger } from 'pino';
import { z } from 'zod';
import { UpcatError, conflict, notFound } from '../errors.js';
import { type Page, pageOf } from '../server/paging.js';
import { audit, lockCatalog, nextCatalogVersion, now } from '../storage/catalog-repo.js';
import { writeCatalog } from '../storage/catalog-writer.js';
import type { Db } from '../storage/db.js';
import { hasControlChars, parseWith } from '../validation.js';
import { ALL_COMPUTERS, UNASSIGNED, bumpEpoch, lockKey, type Q } from './client-repo.js';
import { resolveClient } from './client-names.js';
import { memberCounts, memberPage, type GroupRef, type MemberView } from './group-members.js';

export type { MemberView } from './group-members.js';

export interface GroupView {
  name: string;
  builtin: boolean;
  /** Named groups: their members; All Computers: every active client; Unassigned: those in no named group. */
  members: number;
}

/** `GET /v1/groups/:name`, `upcat groups show`: the group, its deployments and a page of members. */
export interface GroupDetail extends GroupView {
  deployments: number;
  clients: MemberView[];
  next: string | null;
}

export interface GroupRemoval {
  name: string;
  /** Deployments removed with the group (only with `force`). */
  removedDeployments: number;
  /** Clients that were members; those left in no named group are Unassigned now. */
  removedMembers: number;
  /** The catalog version that removing deployments moved to; null when there were none. */
  catalogVersion: number | null;
}

export const groupName = z
  .string()
  .trim()
  .min(1)
  .max(128)
  .refine((s) => !hasControlChars(s), 'must not hold control characters');

export const clientRefs = z.array(z.string().max(255)).min(1).max(1000);

const isBuiltin = (name: string): boolean => name === ALL_COMPUTERS || name === UNASSIGNED;

/**
 * Computer target groups (issues 5 item 7, 14 items 1 and 3). All Computers and Unassigned are
 * builtin and their membership is implied (every client; clients in no named group), so it is
 * never stored, and they can be neither renamed nor deleted. A membership change moves the
 * members' policy epochs (their next sync recomputes policy); removing deployments moves the
 * catalog version, as any deployment change does. Every change writes an audit row.
 */
export class GroupService {
  constructor(private readonly deps: { db: Db; log: Logger }) {}

  async create(name: string, actor: string): Promise<GroupView> {
    const parsed = parseWith(groupName, name, 'group', 'invalid_input', 'name');
    await this.deps.db.transaction(async (trx) => {
      if ((await findGroup(trx, parsed)) !== undefined) {
        throw conflict(`name: group "${parsed}" already exists`, { group: parsed });
      }
      await trx('groups').insert({ name: parsed, builtin: false, created_at: now() });
      await audit(trx, { actor, action: 'group.create', target: parsed });
    });
    return { name: parsed, builtin: false, members: 0 };
  }

  /** Every group, in creation order (builtins first). */
  async list(): Promise<GroupView[]> {
    const all: GroupView[] = [];
    let after: number | undefined;
    for (;;) {
      const page = await this.page({ limit: 1000, after });
      all.push(...page.items);
      if (page.next === null) return all;
      after = page.lastId;
    }
  }

  /** One page of groups in ID order, each with its member count. */
  async page(query: {
    limit: number;
    after?: number;
  }): Promise<Page<GroupView> & { lastId: number | undefined }> {
    const rows = this.deps.db('groups').select('id', 'name', 'builtin');
    if (query.after !== undefined) rows.where('id', '>', query.after);
    const found = (await rows.orderBy('id').limit(query.limit + 1)) as Array<
      GroupRef & { builtin: boolean | number }
    >;
    const page = pageOf(found, query.limit, (g) => [Number(g.id)]);
    const counts = await memberCounts(
      this.deps.db,
      page.items.map((g) => ({ id: Number(g.id), name: g.name })),
    );
    return {
      items: page.items.map((g) => ({
        name: g.name,
        builtin: Boolean(g.builtin),
        members: counts.get(Number(g.id)) ?? 0,
      })),
      next: page.next,
      lastId: page.items.length === 0 ? undefined : Number(page.items[page.items.length - 1]?.id),
    };
  }

  /** A group with its deployment count and one page of its members (client ID order). */
  async show(name: string, query: { limit: number; after?: string }): Promise<GroupDetail> {
    const db = this.deps.db;
    const group = await mustFindGroup(db, name);
    const counts = await memberCounts(db, [group]);
    const [deployments] = (await db('deployments')
      .where({ group_id: group.id })
      .count({ n: '*' })) as Array<{ n: number | string }>;
    const members = await memberPage(db, group, query);
    return {
      name: group.name,
      builtin: isBuiltin(group.name),
      members: counts.get(group.id) ?? 0,
      deployments: Number(deployments?.n ?? 0),
      clients: members.items,
      next: members.next,
    };
  }

  /** A group with every member (the CLI prints whole lists). */
  async showAll(name: string): Promise<GroupDetail> {
    const first = await this.show(name, { limit: 1000 });
    const clients = [...first.clients];
    for (let next = first.next; next !== null;) {
      const page = await this.show(name, { limit: 1000, after: clients.at(-1)?.clientId });
      clients.push(...page.clients);
      next = page.next;
    }
    return { ...first, clients, next: null };
  }

  /**
   * Renames a named group. Policy follows group IDs, so no client's policy changes; a client
   * whose agent still names the old group as its hint joins nothing at its next registration.
   */
  async rename(name: string, newName: unknown, actor: string): Promise<GroupView> {
    const to = parseWith(groupName, newName, 'group', 'invalid_input', 'name');
    await this.deps.db.transaction(async (trx) => {
      const group = await mustFindGroup(trx, name);
      refuseBuiltin(group.name, 'renamed');
      if (to === group.name) return;
      if ((await findGroup(trx, to)) !== undefined)
        throw conflict(`name: group "${to}" already exists`, { group: to });
      await trx('groups').where({ id: group.id }).update({ name: to });
      await audit(trx, { actor, action: 'group.rename', target: group.name, detail: { name: to } });
    });
    this.deps.log.info({ group: name, name: to }, 'group renamed');
    const group = await mustFindGroup(this.deps.db, to);
    const counts = await memberCounts(this.deps.db, [group]);
    return { name: group.name, builtin: false, members: counts.get(group.id) ?? 0 };
  }

  /**
   * Deletes a named group. Its members leave it (those in no other named group become
   * Unassigned). A group that still has deployments is refused unless `force`: then its
   * deployments go too, which moves the catalog version (the catalog lock is taken first, so
   * no approval can add a deployment to the group while it is being deleted).
   */
  async remove(
    name: string,
    actor: string,
    options: { force?: boolean } = {},
  ): Promise<GroupRemoval> {
    const result = await writeCatalog(this.deps.db, async (trx) => {
      await lockCatalog(trx);
      const group = await mustFindGroup(trx, name);
      refuseBuiltin(group.name, 'deleted');
      await lockKey(trx, `group:${group.id}`);
      const deployments = (await trx('deployments')
        .where({ group_id: group.id })
        .orderBy('id')
        .select('id', 'update_id', 'action')) as Array<{
        id: number;
        update_id: string;
        action: string;
      }>;
      if (deployments.length > 0 && options.force !== true)
        throw conflict(
          `group "${group.name}" still has ${deployments.length} deployment(s); remove them first, or force the delete to remove them too`,
          { group: group.name, deployments: deployments.length },
        );
      let catalogVersion: number | null = null;
      if (deployments.length > 0) {
        await trx('deployments').where({ group_id: group.id }).delete();
        catalogVersion = await nextCatalogVersion(trx, { reason: 'group-delete', actor });
      }
      const members = (
        (await trx('client_groups').where({ group_id: group.id }).select('client_id')) as Array<{
          client_id: string;
        }>
      ).map((m) => m.client_id);
      await trx('client_groups').where({ group_id: group.id }).delete();
      await bumpEpoch(trx, members);
      await trx('groups').where({ id: group.id }).delete();
      await audit(trx, {
        actor,
        action: 'group.delete',
        target: group.name,
        detail: {
          force: options.force === true,
          members: members.length,
          deployments: deployments.map((d) => ({ updateId: d.update_id, action: d.action })),
        },
      });
      return {
        name: group.name,
        removedDeployments: deployments.length,
        removedMembers: members.length,
        catalogVersion,
      };
    });
    this.deps.log.info({ group: result.name, force: options.force === true }, 'group deleted');
    return result;
  }

  /** Server-side assignment: `upcat groups add-client <group> <client>`. Idempotent. */
  async addClient(
    group: string,
    client: string,
    actor: string,
  ): Promise<{ group: string; clientId: string }> {
    const [added] = await this.addClients(group, [client], actor);
    return { group, clientId: added?.clientId ?? '' };
  }

  /**
   * Puts clients (each named by ID, unique ID prefix or name) in a named group, all or none.
   * Idempotent: a client already in the group stays, and `added` says it was already there.
   */
  async addClients(
    group: string,
    clients: unknown,
    actor: string,
  ): Promise<Array<{ clientId: string; added: boolean }>> {
    const refs = parseWith(clientRefs, clients, 'members', 'invalid_input', 'clientIds');
    return this.memberChange(group, 'added to', async (trx, g) => {
      const out: Array<{ clientId: string; added: boolean }> = [];
      for (const [i, ref] of refs.entries()) {
        const client = await resolveClient(trx, ref, `clientIds[${i}]`);
        const row = { client_id: client.client_id, group_id: g.id };
        const had = (await trx('client_groups').where(row).first('client_id')) !== undefined;
        if (!had) {
          await trx('client_groups').insert(row);
          await membershipChanged(trx, actor, 'group.add-client', g, client.client_id);
        }
        if (!out.some((o) => o.clientId === client.client_id))
          out.push({ clientId: client.client_id, added: !had });
      }
      return out;
    });
  }

  /** Takes a client (by ID, unique ID prefix or name) out of a named group; 404 if not in it. */
  async removeClient(
    group: string,
    client: string,
    actor: string,
  ): Promise<{ group: string; clientId: string }> {
    return this.memberChange(group, 'removed from', async (trx, g) => {
      const c = await resolveClient(trx, client, 'clientId');
      const removed = await trx('client_groups')
        .where({ client_id: c.client_id, group_id: g.id })
        .delete();
      if (removed === 0)
        throw notFound(`clientId: client ${c.client_id} is not in group "${g.name}"`, {
          group: g.name,
          clientId: c.client_id,
        });
      await membershipChanged(trx, actor, 'group.remove-client', g, c.client_id);
      return { group: g.name, clientId: c.client_id };
    });
  }

  /** A membership change of a named group, holding the group's lock against a concurrent delete. */
  private memberChange<T>(
    group: string,
    verb: string,
    apply: (trx: Q, g: GroupRef) => Promise<T>,
  ): Promise<T> {
    return this.deps.db.transaction(async (trx) => {
      const first = await mustFindGroup(trx, group);
      if (isBuiltin(first.name))
        throw new UpcatError(
          'invalid_input',
          `group: "${first.name}" is builtin; its membership is implied, clients are not ${verb} it`,
          { details: { field: 'group' } },
        );
      await lockKey(trx, `group:${first.id}`);
      return apply(trx, await mustFindGroup(trx, group));
    });
  }
}

/** A client joined or left a group: its next sync recomputes its policy; the audit says who. */
async function membershipChanged(
  trx: Q,
  actor: string,
  action: string,
  g: GroupRef,
  clientId: string,
): Promise<void> {
  await bumpEpoch(trx, [clientId]);
  await audit(trx, { actor, action, target: g.name, detail: { clientId } });
}

async function findGroup(q: Q, name: string): Promise<GroupRef | undefined> {
  const row = (await q('groups').where({ name }).first('id', 'name')) as GroupRef | undefined;
  return row === undefined ? undefined : { id: Number(row.id), name: row.name };
}

async function mustFindGroup(q: Q, name: string): Promise<GroupRef> {
  const parsed = parseWith(groupName, name, 'group', 'invalid_input', 'group');
  const group = await findGroup(q, parsed);
  if (group === undefined) throw notFound(`group: "${parsed}" does not exist`, { group: parsed });
  return group;
}

function refuseBuiltin(name: string, what: string): void {
  if (isBuiltin(name))
    throw new UpcatError('invalid_input', `group: "${name}" is builtin and cannot be ${what}`, {
      details: { field: 'group' },
    });
}
