import type { Router } from 'express';
import type { Site } from '../../app.js';
import { parseDeploymentId, parseDeploymentQuery } from '../../site/deployment-list.js';
import { jsonBody } from '../middleware/body.js';
import { actorOf, requireScope } from '../middleware/token-auth.js';
import { sendJsonWithEtag } from '../paging.js';

/**
 * Deployments (issue 14 item 1): the list (filters, keyset pages, ETag) needs `read`; changing
 * a deadline or percentage and removing a deployment need `approve`, like creating one
 * (`POST /v1/deployments`, routes/reports.ts). Each change moves the catalog version, so the
 * clients' next sync carries it (site/deployments.ts).
 */
export function deploymentRoutes(router: Router, site: Pick<Site, 'tokens' | 'deployments'>): void {
  const read = requireScope(site, 'read');
  const approve = requireScope(site, 'approve');
  const json = jsonBody(16 * 1024);

  router.get('/v1/deployments', read, async (req, res) => {
    const page = await site.deployments.page(parseDeploymentQuery(req.query));
    sendJsonWithEtag(req, res, { deployments: page.items, next: page.next });
  });
  router.patch('/v1/deployments/:id', approve, json, async (req, res) => {
    res.json(await site.deployments.change(idOf(req.params), req.body, actorOf(res)));
  });
  router.delete('/v1/deployments/:id', approve, async (req, res) => {
    res.json(await site.deployments.remove(idOf(req.params), actorOf(res)));
  });
}

function idOf(params: Record<string, string | string[] | undefined>): number {
  const value = params['id'];
  return parseDeploymentId(typeof value === 'string' ? value : '');
}
