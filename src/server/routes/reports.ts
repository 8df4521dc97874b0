import type { Router } from 'express';
import type { Site } from '../../app.js';
import { UpcatError } from '../../errors.js';
import { parseSince } from '../../site/duration.js';
import { checkPathId } from '../../site/fields.js';
import { jsonBody } from '../middleware/body.js';
import { actorOf, requireScope } from '../middleware/token-auth.js';

type AdminSite = Pick<
  Site,
  'tokens' | 'reports' | 'clients' | 'deployments' | 'promotions' | 'audit' | 'expire'
>;

/**
 * The admin and release-pipeline API (issues 5 and 7), behind bearer tokens with scopes
 * (docs/PROTOCOL.md "Tokens and scopes"): reading reports and clients, deploying and
 * promoting need `approve`; expiring an update needs `publish`; changing a client record and
 * reading the audit log need `admin` (which holds every scope).
 */
export function adminRoutes(router: Router, site: AdminSite): void {
  const approve = requireScope(site, 'approve');
  const admin = requireScope(site, 'admin');
  const publish = requireScope(site, 'publish');
  const json = jsonBody(16 * 1024);
  // An update ID that cannot name one (a NUL byte, which PostgreSQL refuses) is a 400 before
  // any query; client IDs get the same check in routes/clients.ts.
  router.param('updateId', (_req, _res, next, value: string) => {
    checkPathId(value, 'updateId');
    next();
  });

  router.get('/v1/reports/revisions', approve, async (_req, res) => {
    res.json({ revisions: await site.reports.revisions() });
  });
  router.get('/v1/reports/clients/:clientId/history', approve, async (req, res) => {
    res.json({ history: await site.reports.clientHistory(paramOf(req.params, 'clientId')) });
  });
  router.get('/v1/reports/stale', approve, async (req, res) => {
    res.json({ clients: await site.reports.stale(daysOf(req.query['days'])) });
  });
  router.get('/v1/reports/client-install-failures', approve, async (_req, res) => {
    res.json({ endpoints: await site.reports.clientInstallFailures() });
  });

  router.get('/v1/clients', approve, async (_req, res) => {
    res.json({ clients: await site.clients.list() });
  });
  for (const change of ['approve', 'block', 'unblock'] as const) {
    router.post(`/v1/clients/:clientId/${change}`, admin, async (req, res) => {
      res.json(await site.clients[change](paramOf(req.params, 'clientId'), actorOf(res)));
    });
  }
  router.post('/v1/clients/:clientId/resolve', admin, json, async (req, res) => {
    const how = (req.body as { how?: unknown } | undefined)?.how;
    if (how !== 'merge' && how !== 'new' && how !== 'block')
      throw new UpcatError('invalid_input', 'how: must be merge, new or block');
    res.json(await site.clients.resolve(paramOf(req.params, 'clientId'), how, actorOf(res)));
  });

  router.post('/v1/deployments', approve, json, async (req, res) => {
    res.status(201).json(await site.deployments.approve(req.body, actorOf(res)));
  });
  router.post('/v1/promotions', approve, json, async (req, res) => {
    res.status(201).json(await site.promotions.promote(req.body, actorOf(res)));
  });

  router.post('/v1/updates/:updateId/expire', publish, async (req, res) => {
    res.json(await site.expire.expire(paramOf(req.params, 'updateId'), actorOf(res)));
  });

  router.get('/v1/audit', admin, async (req, res) => {
    const { since, limit, before } = req.query;
    if (
      (since !== undefined && typeof since !== 'string') ||
      (limit !== undefined && typeof limit !== 'string') ||
      (before !== undefined && typeof before !== 'string')
    )
      throw new UpcatError('invalid_input', 'since, limit, before: give each at most once');
    // {entries, truncated, next}: a page that stops at the limit says so (site/audit.ts).
    res.json(
      await site.audit.list({
        since: since === undefined ? undefined : parseSince(since),
        limit: limit === undefined ? undefined : wholeNumber(limit, 'limit'),
        before: before === undefined ? undefined : wholeNumber(before, 'before', 15),
      }),
    );
  });
}

function daysOf(value: unknown): number {
  if (value === undefined) return 30;
  const n = typeof value === 'string' && /^\d{1,5}$/.test(value) ? Number(value) : NaN;
  if (!Number.isInteger(n) || n < 1)
    throw new UpcatError('invalid_input', 'days: must be a whole number of days, 1 or more');
  return n;
}

function wholeNumber(value: string, field: string, digits = 6): number {
  if (!new RegExp(`^\\d{1,${digits}}$`).test(value))
    throw new UpcatError('invalid_input', `${field}: must be a whole number`);
  return Number(value);
}

/** A route parameter as one string (Express 5 types wildcard parameters as arrays). */
function paramOf(params: Record<string, string | string[] | undefined>, name: string): string {
  const value = params[name];
  return typeof value === 'string' ? value : '';
}
