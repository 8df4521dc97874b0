import type { Router } from 'express';
import type { Site } from '../../app.js';
import { resolutionSchema } from '../../site/client-admin.js';
import { clientDetail } from '../../site/client-detail.js';
import { parseClientQuery } from '../../site/client-list.js';
import { parseWith } from '../../validation.js';
import { jsonBody } from '../middleware/body.js';
import { actorOf, requireScope } from '../middleware/token-auth.js';
import { sendJsonWithEtag } from '../paging.js';
import { paramOf } from '../params.js';

/**
 * The clients of the admin API (issue 14 item 1): the filtered, paged list and one client's
 * detail for any token (`read`), and the changes an operator makes (`approve`: approving,
 * blocking, unblocking, resolving a conflict). A client is named by its ID, a unique prefix of
 * it, or its name (site/client-names.ts).
 */
export function clientAdminRoutes(
  router: Router,
  site: Pick<Site, 'tokens' | 'clients' | 'reports'>,
): void {
  const read = requireScope(site, 'read');
  const approve = requireScope(site, 'approve');

  router.get('/v1/clients', read, async (req, res) => {
    const page = await site.clients.page(parseClientQuery(req.query));
    sendJsonWithEtag(req, res, { clients: page.items, next: page.next });
  });
  router.get('/v1/clients/:clientId', read, async (req, res) => {
    sendJsonWithEtag(req, res, await clientDetail(site, paramOf(req.params, 'clientId')));
  });

  for (const change of ['approve', 'block', 'unblock'] as const) {
    router.post(`/v1/clients/:clientId/${change}`, approve, async (req, res) => {
      res.json(await site.clients[change](paramOf(req.params, 'clientId'), actorOf(res)));
    });
  }
  router.post('/v1/clients/:clientId/resolve', approve, jsonBody(16 * 1024), async (req, res) => {
    const { how } = parseWith(resolutionSchema, req.body ?? {}, 'resolution');
    res.json(await site.clients.resolve(paramOf(req.params, 'clientId'), how, actorOf(res)));
  });
}
