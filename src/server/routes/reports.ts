import express, { type Router } from 'express';
import type { Site } from '../../app.js';
import { UpcatError } from '../../errors.js';
import { localOnly } from '../middleware/rate-limit.js';

/**
 * The admin API of issue 5: reports, client listing, deployments. Kept on its own router so
 * that the bearer-token scopes of a later issue are added in one place (`localOnly` stands in
 * until then: only callers on this machine are served).
 */
export function adminRoutes(
  router: Router,
  site: Pick<Site, 'reports' | 'clients' | 'deployments'>,
): void {
  const admin = express.Router();
  admin.use(localOnly);

  admin.get('/v1/reports/revisions', async (_req, res) => {
    res.json({ revisions: await site.reports.revisions() });
  });
  admin.get('/v1/reports/clients/:clientId/history', async (req, res) => {
    res.json({ history: await site.reports.clientHistory(req.params['clientId'] ?? '') });
  });
  admin.get('/v1/reports/stale', async (req, res) => {
    res.json({ clients: await site.reports.stale(daysOf(req.query['days'])) });
  });
  admin.get('/v1/reports/client-install-failures', async (_req, res) => {
    res.json({ endpoints: await site.reports.clientInstallFailures() });
  });
  admin.get('/v1/clients', async (_req, res) => {
    res.json({ clients: await site.clients.list() });
  });
  admin.post('/v1/deployments', express.json({ limit: '16kb' }), async (req, res) => {
    res.status(201).json(await site.deployments.approve(req.body, 'api:local'));
  });
  router.use(admin);
}

function daysOf(value: unknown): number {
  if (value === undefined) return 30;
  const n = typeof value === 'string' && /^\d{1,5}$/.test(value) ? Number(value) : NaN;
  if (!Number.isInteger(n) || n < 1)
    throw new UpcatError('invalid_input', 'days: must be a whole number of days, 1 or more');
  return n;
}
