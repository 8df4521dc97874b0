import type { Logger } from 'pino';
import { z } from 'zod';
import { UpcatError, conflict, notFound } from '../errors.js';
import { audit, now } from '../storage/catalog-repo.js';
import type { Db } from '../storage/db.js';
import { hasControlChars, parseWith } from '../validation.js';
import { ALL_COMPUTERS, UNASSIGNED, bumpEpoch, findClient, groupIdByName } from './client-repo.js';
import { checkPathId } from './fields.js';

export interface GroupView {
  name: string;
  builtin: boolean;
  /** Named groups: their members; All Computers: every active client; Unassigned: those in no named group. */
  members: number;
}

const groupName = z
  .string()
  .trim()
  .min(1)
  .max(128)
  .refine((s) => !hasControlChars(s), 'must not hold control characters');

/**
 * Computer target groups (issue 5 item 7). All Computers and Unassigned are builtin and their
 * membership is implied (every client; clients in no named group), so it is never stored.
 */
export class GroupService {
  constructor(private readonly deps: { db: Db; log: Logger }) {}

  async create(name: string, actor: string): Promise<GroupView> {
    const parsed = parseWith(groupName, name, 'group', 'invalid_input', 'name');
    await this.deps.db.transaction(async (trx) => {
      if ((await groupIdByName(trx, parsed)) !== undefined) {
        throw conflict(`group "${parsed}" already exists`, { group: parsed });
      }
      await trx('groups').insert({ name: parsed, builtin: false, created_at: now() });
      await audit(trx, { actor, action: 'group.create', target: parsed });
    });
    return { name: parsed, builtin: false, members: 0 };
  }

  async list(): Promise<GroupView[]> {
    const db = this.deps.db;
    const groups = (await db('groups').orderBy('id').select('id', 'name', 'builtin')) as Array<{
      id: number;
      name: string;
      builtin: boolean | number;
    }>;
    const counts = (await db('client_groups as cg')
      .join('clients as c', 'c.client_id', 'cg.client_id')
      .whereNot('c.record_state', 'obsolete')
      .groupBy('cg.group_id')
      .select('cg.group_id')
      .count({ n: '*' })) as Array<{ group_id: number; n: number | string }>;
    const byGroup = new Map(counts.map((c) => [Number(c.group_id), Number(c.n)]));
    const [all] = (await db('clients')
      .whereNot('record_state', 'obsolete')
      .count({ n: '*' })) as Array<{
      n: number | string;
    }>;
    const [assigned] = (await db('client_groups as cg')
      .join('clients as c', 'c.client_id', 'cg.client_id')
      .whereNot('c.record_state', 'obsolete')
      .countDistinct({ n: 'cg.client_id' })) as Array<{ n: number | string }>;
    return groups.map((g) => ({
      name: g.name,
      builtin: Boolean(g.builtin),
      members:
        g.name === ALL_COMPUTERS
          ? Number(all?.n ?? 0)
          : g.name === UNASSIGNED
            ? Number(all?.n ?? 0) - Number(assigned?.n ?? 0)
            : (byGroup.get(Number(g.id)) ?? 0),
    }));
  }

  /** Server-side assignment: `upcat groups add-client <group> <clientId>`. Idempotent. */
  async addClient(
    group: string,
    clientId: string,
    actor: string,
  ): Promise<{ group: string; clientId: string }> {
    const id = checkPathId(clientId, 'clientId').toLowerCase();
    parseWith(groupName, group, 'group', 'invalid_input', 'group');
    await this.deps.db.transaction(async (trx) => {
      const groupId = await groupIdByName(trx, group);
      if (groupId === undefined) throw notFound(`group "${group}" does not exist`, { group });
      if (group === ALL_COMPUTERS || group === UNASSIGNED) {
        throw new UpcatError(
          'invalid_input',
          `group: "${group}" is builtin; its membership is implied`,
        );
      }
      if ((await findClient(trx, id)) === undefined)
        throw notFound(`client ${clientId} does not exist`);
      await trx('client_groups')
        .insert({ client_id: id, group_id: groupId })
        .onConflict(['client_id', 'group_id'])
        .ignore();
      await bumpEpoch(trx, [id]);
      await audit(trx, {
        actor,
        action: 'group.add-client',
        target: group,
        detail: { clientId: id },
      });
    });
    return { group, clientId: id };
  }
}
