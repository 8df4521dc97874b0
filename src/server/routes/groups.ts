import type { Request, Router } from 'express';
import type { Site } from '../../app.js';
import { UpcatError } from '../../errors.js';
import { jsonBody } from '../middleware/body.js';
import { actorOf, requireScope } from '../middleware/token-auth.js';
import { decodeCursor, pageLimitOf, sendJsonWithEtag } from '../paging.js';

/**
 * Groups (issue 14 item 1): reading needs `read`, every change `approve` (groups are rings,
 * and deciding who is in a ring is deploying). The service (site/groups.ts) validates names and
 * writes the audit rows; these routes only read the request.
 */
export function groupRoutes(
  router: Router,
  site: Pick<Site, 'tokens' | 'groups' | 'maintenanceWindows'>,
): void {
  const read = requireScope(site, 'read');
  const approve = requireScope(site, 'approve');
  const json = jsonBody(64 * 1024);

  router.get('/v1/groups', read, async (req, res) => {
    const { limit, cursor } = pageQuery(req, ['limit', 'cursor']);
    const after = cursor === undefined ? undefined : numberKey(cursor);
    const page = await site.groups.page({ limit, after });
    sendJsonWithEtag(req, res, { groups: page.items, next: page.next });
  });
  router.get('/v1/groups/:group', read, async (req, res) => {
    const { limit, cursor } = pageQuery(req, ['limit', 'cursor']);
    const after = cursor === undefined ? undefined : stringKey(cursor);
    const detail = await site.groups.show(nameOf(req), { limit, after });
    const window = await site.maintenanceWindows.get(detail.name);
    sendJsonWithEtag(req, res, { ...detail, maintenanceWindow: window });
  });
  // Maintenance windows (issue 14 item 6): changing one is deploying, so it needs `approve`.
  router.get('/v1/groups/:group/maintenance-window', read, async (req, res) => {
    onlyQuery(req, []);
    const window = await site.maintenanceWindows.get(nameOf(req));
    sendJsonWithEtag(req, res, { group: nameOf(req), maintenanceWindow: window });
  });
  router.put('/v1/groups/:group/maintenance-window', approve, json, async (req, res) => {
    res.json(await site.maintenanceWindows.set(nameOf(req), req.body, actorOf(res)));
  });
  router.delete('/v1/groups/:group/maintenance-window', approve, async (req, res) => {
    res.json(await site.maintenanceWindows.clear(nameOf(req), actorOf(res)));
  });
  router.post('/v1/groups', approve, json, async (req, res) => {
    res.status(201).json(await site.groups.create(fieldOf(req.body, 'name'), actorOf(res)));
  });
  router.patch('/v1/groups/:group', approve, json, async (req, res) => {
    res.json(await site.groups.rename(nameOf(req), fieldOf(req.body, 'name'), actorOf(res)));
  });
  router.delete('/v1/groups/:group', approve, async (req, res) => {
    const force = onlyQuery(req, ['force'])['force'];
    if (force !== undefined && force !== 'true' && force !== 'false')
      throw new UpcatError('invalid_input', 'force: must be true or false');
    res.json(await site.groups.remove(nameOf(req), actorOf(res), { force: force === 'true' }));
  });
  router.post('/v1/groups/:group/members', approve, json, async (req, res) => {
    const group = nameOf(req);
    const ids = (req.body as { clientIds?: unknown } | undefined)?.clientIds;
    const clients = await site.groups.addClients(group, ids, actorOf(res));
    res.json({ group, clients });
  });
  router.delete('/v1/groups/:group/members/:client', approve, async (req, res) => {
    res.json(await site.groups.removeClient(nameOf(req), paramOf(req, 'client'), actorOf(res)));
  });
}

/** `{name}` from a JSON body: the value itself, validated by the service. */
function fieldOf(body: unknown, field: string): string {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw new UpcatError('invalid_input', `body: a JSON object with "${field}"`);
  const extra = Object.keys(body).filter((k) => k !== field);
  if (extra.length > 0) throw new UpcatError('invalid_input', `${extra[0]}: unknown field`);
  const value = (body as Record<string, unknown>)[field];
  if (typeof value !== 'string')
    throw new UpcatError('invalid_input', `${field}: must be a string`);
  return value;
}

/** `:group`, not `:name`: a router.param of another module may own that name. */
function nameOf(req: Request): string {
  return paramOf(req, 'group');
}

/** A route parameter as one string (Express 5 types wildcard parameters as arrays). */
function paramOf(req: Request, name: string): string {
  const value = (req.params as Record<string, string | string[] | undefined>)[name];
  return typeof value === 'string' ? value : '';
}

/** The query, refusing parameters the route does not take and repeated ones. */
export function onlyQuery(req: Request, allowed: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.query)) {
    if (!allowed.includes(k)) throw new UpcatError('invalid_input', `${k}: unknown parameter`);
    if (typeof v !== 'string') throw new UpcatError('invalid_input', `${k}: give it once`);
    out[k] = v;
  }
  return out;
}

function pageQuery(
  req: Request,
  allowed: readonly string[],
): { limit: number; cursor: string | undefined } {
  const q = onlyQuery(req, allowed);
  return { limit: pageLimitOf(q['limit']), cursor: q['cursor'] };
}

function numberKey(cursor: string): number {
  const [id] = decodeCursor(cursor, 1);
  if (typeof id !== 'number' || !Number.isInteger(id) || id < 0)
    throw new UpcatError('invalid_input', 'cursor: not a cursor of this list');
  return id;
}

function stringKey(cursor: string): string {
  const [id] = decodeCursor(cursor, 1);
  if (typeof id !== 'string')
    throw new UpcatError('invalid_input', 'cursor: not a cursor of this list');
  return id;
}
