import type { Router } from 'express';
import type { Site } from '../../app.js';
import { checkPathId } from '../../site/fields.js';
import { sendJsonWithEtag } from '../paging.js';
import { actorOf, requireScope } from '../middleware/token-auth.js';

/**
 * The updates of the admin API (issue 14 item 1; docs/PROTOCOL.md "Updates"): the list and one
 * update's detail need `read` (which every scope holds); declining and undeclining need
 * `publish`, as expiring does. `POST /v1/updates` (publishing) is in updates.ts.
 */
export function updateAdminRoutes(
  router: Router,
  site: Pick<Site, 'tokens' | 'updateAdmin'>,
): void {
  const read = requireScope(site, 'read');
  const publish = requireScope(site, 'publish');

  router.get('/v1/updates', read, async (req, res) => {
    const page = await site.updateAdmin.list(req.query as Record<string, unknown>);
    sendJsonWithEtag(req, res, { updates: page.items, next: page.next });
  });
  router.get('/v1/updates/:updateId', read, async (req, res) => {
    sendJsonWithEtag(req, res, await site.updateAdmin.show(updateIdOf(req.params)));
  });
  for (const change of ['decline', 'undecline'] as const) {
    router.post(`/v1/updates/:updateId/${change}`, publish, async (req, res) => {
      res.json(await site.updateAdmin[change](updateIdOf(req.params), actorOf(res)));
    });
  }
}

/** The `:updateId` path parameter: an ID or a unique prefix, checked by the service. */
function updateIdOf(params: Record<string, string | string[] | undefined>): string {
  const value = params['updateId'];
  return checkPathId(typeof value === 'string' ? value : '', 'updateId');
}
