import type { Knex } from 'knex';
import { z } from 'zod';
import { UpcatError } from '../errors.js';
import { decodeCursor, pageLimitOf, pageOf, type Page } from '../server/paging.js';
import { parseWith } from '../validation.js';
import type { Q } from './client-repo.js';
import type { DeploymentAction, DeploymentView } from './deployments.js';
import { ACTIONS } from './deployments.js';
import { INT4_MAX, text } from './fields.js';

/**
 * The deployments list (issue 14 item 1): filtered by group, update and action, in deployment
 * ID order (unique, so keyset paging returns every row once), as `GET /v1/deployments` takes it
 * in its query and `upcat deployments list` in its options.
 */
export interface DeploymentFilter {
  group?: string;
  updateId?: string;
  action?: DeploymentAction;
}

export interface DeploymentQuery {
  filter: DeploymentFilter;
  limit: number;
  /** The ID of the last deployment of the previous page. */
  after?: number;
}

/** Built on first use: deployments.ts imports this module, so ACTIONS is not set at load time. */
export const querySchema = (): z.ZodType<{
  group?: string;
  updateId?: string;
  action?: DeploymentAction;
  limit?: unknown;
  cursor?: unknown;
}> =>
  z.strictObject({
    group: text(128).optional(),
    updateId: z
      .string({ error: 'give it once' })
      .regex(/^[0-9a-fA-F-]{36}$/, 'must be an update ID (GUID)')
      .transform((s) => s.toLowerCase())
      .optional(),
    action: z.enum(ACTIONS, { error: `must be ${ACTIONS.join(', ')}` }).optional(),
    limit: z.unknown().optional(),
    cursor: z.unknown().optional(),
  });

/** A query string's filters, limit and cursor; a 400 naming the field when one is wrong. */
export function parseDeploymentQuery(query: Record<string, unknown>): DeploymentQuery {
  const { limit, cursor, ...filter } = parseWith(querySchema(), query, 'deployments query');
  const out: DeploymentQuery = {
    filter: Object.fromEntries(Object.entries(filter).filter(([, v]) => v !== undefined)),
    limit: pageLimitOf(limit),
  };
  if (cursor !== undefined) {
    const [id] = decodeCursor(typeof cursor === 'string' ? cursor : '', 1);
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id > INT4_MAX)
      throw new UpcatError('invalid_input', 'cursor: not a cursor of this list');
    out.after = id;
  }
  return out;
}

interface Row {
  id: number;
  update_id: string;
  name: string;
  action: DeploymentAction;
  deadline: string | null;
  percent: number | string;
  catalog_version: number | string;
}

/** Deployments with their group's name, as `d` joined to `g`. */
function deploymentRows(q: Q): Knex.QueryBuilder {
  return q('deployments as d')
    .join('groups as g', 'g.id', 'd.group_id')
    .select(
      'd.id',
      'd.update_id',
      'g.name',
      'd.action',
      'd.deadline',
      'd.percent',
      'd.catalog_version',
    );
}

export async function deploymentPage(q: Q, query: DeploymentQuery): Promise<Page<DeploymentView>> {
  const rows = deploymentRows(q);
  const { group, updateId, action } = query.filter;
  if (group !== undefined) rows.where('g.name', group);
  if (updateId !== undefined) rows.where('d.update_id', updateId);
  if (action !== undefined) rows.where('d.action', action);
  if (query.after !== undefined) rows.where('d.id', '>', query.after);
  const found = (await rows.orderBy('d.id').limit(query.limit + 1)) as Row[];
  return pageOf(found.map(deploymentViewOf), query.limit, (d) => [d.id]);
}

/** One deployment by ID, or undefined. */
export async function findDeployment(q: Q, id: number): Promise<DeploymentView | undefined> {
  const row = (await deploymentRows(q).where('d.id', id).first()) as Row | undefined;
  return row === undefined ? undefined : deploymentViewOf(row);
}
function deploymentViewOf(r: Row): DeploymentView {
  return {
    id: Number(r.id),
    updateId: r.update_id,
    group: r.name,
    action: r.action,
    deadline: r.deadline,
    percent: Number(r.percent),
    catalogVersion: Number(r.catalog_version),
  };
}

/** A deployment ID from a path or the command line: a whole number; a 400 otherwise. */
export function parseDeploymentId(value: string): number {
  const id = /^\d{1,10}$/.test(value) ? Number(value) : NaN;
  if (!Number.isInteger(id) || id < 1 || id > INT4_MAX)
    throw new UpcatError('invalid_input', 'id: must be a deployment ID (a whole number)', {
      details: { field: 'id' },
    });
  return id;
}
