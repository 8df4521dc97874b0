import type { Logger } from 'pino';
import { notFound } from '../errors.js';
import { audit, lockCatalog, nextCatalogVersion, now } from '../storage/catalog-repo.js';
import { writeCatalog } from '../storage/catalog-writer.js';
import type { Db } from '../storage/db.js';
import { hasControlChars, parseWith } from '../validation.js';
import { UpcatError } from '../errors.js';
import type { Q } from './client-repo.js';
import {
  scheduleSchema,
  windowSchema,
  zoned,
  type MaintenanceSchedule,
  type ZonedWindow,
} from './maintenance-window.js';

/** A group's maintenance windows as `GET /v1/groups/:name` and the window commands show them. */
export interface GroupWindowView extends MaintenanceSchedule {
  group: string;
  updatedAt: string;
}

/**
 * Maintenance windows per group (issue 14 item 6). Setting or clearing one moves the catalog
 * version (catalog lock held), as a deployment change does: every client's next sync recomputes
 * its policy, which carries the windows of the client's groups on its `install` entries
 * (sync/policy.ts), whether the group is named or builtin (whose members are implied). Each
 * change writes an audit row.
 */
export class MaintenanceWindowService {
  constructor(private readonly deps: { db: Db; log: Logger }) {}

  async get(group: string): Promise<GroupWindowView | null> {
    const g = await mustFindGroup(this.deps.db, group);
    const row = (await this.deps
      .db('group_maintenance_windows')
      .where({ group_id: g.id })
      .first('timezone', 'windows', 'updated_at')) as WindowRow | undefined;
    return row === undefined ? null : viewOf(g.name, row);
  }

  async set(group: string, input: unknown, actor: string): Promise<GroupWindowView> {
    const schedule = parseWith(scheduleSchema, input, 'maintenance window');
    const view = await writeCatalog(this.deps.db, async (trx) => {
      await lockCatalog(trx);
      const g = await mustFindGroup(trx, group);
      const row = {
        timezone: schedule.timezone,
        windows: JSON.stringify(schedule.windows),
        updated_at: now(),
      };
      await trx('group_maintenance_windows')
        .insert({ group_id: g.id, ...row })
        .onConflict('group_id')
        .merge(row);
      const catalogVersion = await nextCatalogVersion(trx, { reason: 'maintenance-window', actor });
      await audit(trx, {
        actor,
        action: 'group.window.set',
        target: g.name,
        detail: { ...schedule, catalogVersion },
      });
      return viewOf(g.name, row);
    });
    this.deps.log.info({ group: view.group }, 'maintenance window set');
    return view;
  }

  /** Removes a group's windows; a group without any is answered with `cleared: false`. */
  async clear(group: string, actor: string): Promise<{ group: string; cleared: boolean }> {
    const result = await writeCatalog(this.deps.db, async (trx) => {
      await lockCatalog(trx);
      const g = await mustFindGroup(trx, group);
      const removed = await trx('group_maintenance_windows').where({ group_id: g.id }).delete();
      if (Number(removed) === 0) return { group: g.name, cleared: false };
      const catalogVersion = await nextCatalogVersion(trx, { reason: 'maintenance-window', actor });
      await audit(trx, {
        actor,
        action: 'group.window.clear',
        target: g.name,
        detail: { catalogVersion },
      });
      return { group: g.name, cleared: true };
    });
    this.deps.log.info(result, 'maintenance window cleared');
    return result;
  }
}

interface WindowRow {
  timezone: string;
  windows: string;
  updated_at: string;
}

function viewOf(group: string, row: WindowRow): GroupWindowView {
  return { group, ...scheduleOf(row), updatedAt: row.updated_at };
}

function scheduleOf(row: Pick<WindowRow, 'timezone' | 'windows'>): MaintenanceSchedule {
  return {
    timezone: row.timezone,
    windows: windowSchema.array().parse(JSON.parse(row.windows) as unknown),
  };
}

/**
 * The windows of a client's groups, each with its zone, in group order (sync/policy.ts): its
 * named groups by ID and the builtin ones by name, in one query (a policy is computed per sync).
 */
export async function windowsOfGroups(
  q: Q,
  groupIds: readonly number[],
  builtinNames: readonly string[],
): Promise<ZonedWindow[]> {
  const rows = (await q('group_maintenance_windows as w')
    .join('groups as g', 'g.id', 'w.group_id')
    .where((w) => w.whereIn('w.group_id', [...groupIds]).orWhereIn('g.name', [...builtinNames]))
    .orderBy('w.group_id')
    .select('w.timezone', 'w.windows')) as WindowRow[];
  return rows.flatMap((r) => zoned(scheduleOf(r)));
}

async function mustFindGroup(q: Q, name: string): Promise<{ id: number; name: string }> {
  if (typeof name !== 'string' || name.length === 0 || name.length > 128 || hasControlChars(name))
    throw new UpcatError('invalid_input', 'group: must be a group name (1 to 128 characters)');
  const row = (await q('groups').where({ name }).first('id', 'name')) as
    { id: number; name: string } | undefined;
  if (row === undefined) throw notFound(`group: "${name}" does not exist`, { group: name });
  return { id: Number(row.id), name: row.name };
}
