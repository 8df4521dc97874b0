import type { Router } from 'express';
import type { Site } from '../../app.js';
import { UpcatError } from '../../errors.js';
import { parseSince } from '../../site/duration.js';
import { checkPathId } from '../../site/fields.js';
import { parseHistoryQuery, revisionHistory } from '../../site/report-history.js';
import { jsonBody } from '../middleware/body.js';
import { actorOf, requireScope } from '../middleware/token-auth.js';
import { paramOf } from '../params.js';
import { sendReport } from '../report-format.js';

type AdminSite = Pick<
  Site,
  'tokens' | 'reports' | 'deployments' | 'promotions' | 'audit' | 'expire' | 'db'
>;

/**
 * The admin and release-pipeline API (issues 5 and 7), behind bearer tokens with scopes
 * (docs/PROTOCOL.md "Tokens and scopes"): reading reports needs any token (`read`); deploying
 * and promoting need `approve`; expiring an update needs `publish`; reading the audit log needs
 * `admin` (which holds every scope). Clients are in routes/client-admin.ts.
 */
export function adminRoutes(router: Router, site: AdminSite): void {
  const read = requireScope(site, 'read');
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

  // Reports are reads (any token), as JSON or CSV (issue 14 item 1: report-format.ts).
  router.get('/v1/reports/revisions', read, async (req, res) => {
    sendReport(req, res, 'revisions', 'revisions', await site.reports.revisions());
  });
  router.get('/v1/reports/clients/:clientId/history', read, async (req, res) => {
    const history = await site.reports.clientHistory(paramOf(req.params, 'clientId'));
    sendReport(req, res, 'history', 'history', history);
  });
  // A revision's installed / failed / pending over time (site/report-history.ts).
  router.get('/v1/reports/history', read, async (req, res) => {
    const points = await revisionHistory(site.db, parseHistoryQuery(req.query));
    sendReport(req, res, 'revision-history', 'points', points);
  });
  router.get('/v1/reports/stale', read, async (req, res) => {
    sendReport(req, res, 'stale', 'clients', await site.reports.stale(daysOf(req.query['days'])));
  });
  router.get('/v1/reports/client-install-failures', read, async (req, res) => {
    const endpoints = await site.reports.clientInstallFailures();
    sendReport(req, res, 'client-install-failures', 'endpoints', endpoints);
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
