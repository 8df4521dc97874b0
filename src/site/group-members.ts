import type { Knex } from 'knex';
import type { Page } from '../server/paging.js';
import { pageOf } from '../server/paging.js';
import { ALL_COMPUTERS, UNASSIGNED, type ClientRow, type Q } from './client-repo.js';
import { statusOf, type ClientStatus } from './registration.js';

/**
 * Who is in a group. Named groups store their members; All Computers (every client) and
 * Unassigned (clients in no named group) are implied, so their members are queries. Obsolete
 * records (replaced by a newer registration of their machine) are members of nothing: counts
 * and listings leave them out alike, so a count is the length of the listing.
 */
export interface MemberView {
  clientId: string;
  name: string;
  status: ClientStatus;
  blocked: boolean;
  lastContact: string | null;
}

export interface GroupRef {
  id: number;
  name: string;
}

/** Member counts of the given groups, by group ID. */
export async function memberCounts(
  q: Q,
  groups: readonly GroupRef[],
): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  const named = groups.filter((g) => g.name !== ALL_COMPUTERS && g.name !== UNASSIGNED);
  if (named.length > 0) {
    const counts = (await q('client_groups as cg')
      .join('clients as c', 'c.client_id', 'cg.client_id')
      .whereNot('c.record_state', 'obsolete')
      .whereIn(
        'cg.group_id',
        named.map((g) => g.id),
      )
      .groupBy('cg.group_id')
      .select('cg.group_id')
      .count({ n: '*' })) as Array<{ group_id: number; n: number | string }>;
    for (const c of counts) out.set(Number(c.group_id), Number(c.n));
  }
  for (const g of groups) {
    if (g.name === ALL_COMPUTERS || g.name === UNASSIGNED) {
      const [row] = (await membersQuery(q, g).count({ n: '*' })) as Array<{ n: number | string }>;
      out.set(g.id, Number(row?.n ?? 0));
    }
  }
  return out;
}

/** One page of a group's members, in client ID order (a unique key, so keyset paging is exact). */
export async function memberPage(
  q: Q,
  group: GroupRef,
  page: { limit: number; after?: string },
): Promise<Page<MemberView>> {
  const rows = membersQuery(q, group).select(
    'c.client_id',
    'c.name',
    'c.approval',
    'c.record_state',
    'c.blocked',
    'c.last_contact',
  );
  if (page.after !== undefined) rows.where('c.client_id', '>', page.after);
  const found = (await rows.orderBy('c.client_id').limit(page.limit + 1)) as Array<
    Pick<ClientRow, 'client_id' | 'name' | 'approval' | 'record_state' | 'last_contact'> & {
      blocked: boolean | number;
    }
  >;
  const members = found.map((r): MemberView => ({
    clientId: r.client_id,
    name: r.name,
    status: statusOf(r),
    blocked: Boolean(r.blocked),
    lastContact: r.last_contact,
  }));
  return pageOf(members, page.limit, (m) => [m.clientId]);
}

/** The live clients of a group, as `clients as c`. */
function membersQuery(q: Q, group: GroupRef): Knex.QueryBuilder {
  const live = q('clients as c').whereNot('c.record_state', 'obsolete');
  if (group.name === ALL_COMPUTERS) return live;
  if (group.name === UNASSIGNED)
    return live.whereNotExists(
      q('client_groups as cg').whereRaw('cg.client_id = c.client_id').select('cg.client_id'),
    );
  return live.whereExists(
    q('client_groups as cg')
      .whereRaw('cg.client_id = c.client_id')
      .where('cg.group_id', group.id)
      .select('cg.client_id'),
  );
}
