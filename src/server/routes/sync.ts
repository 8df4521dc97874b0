import type { Router } from 'express';
import type { Site } from '../../app.js';
import { clientAuth, clientOf } from '../middleware/client-auth.js';

/**
 * `GET /v1/sync?anchor=<sealed>` (issue 5 item 8): the client's signed policy since its anchor.
 * 304 when nothing is new; `X-Upcat-Anchor` then carries a fresher anchor when there is one.
 */
export function syncRoutes(
  router: Router,
  site: Pick<Site, 'db' | 'sync' | 'contacts' | 'syncFast' | 'config' | 'log'>,
): void {
  router.get('/v1/sync', clientAuth(site), async (req, res) => {
    const raw = req.query['anchor'];
    const anchor = typeof raw === 'string' && raw !== '' ? raw : undefined;
    const result = await site.sync.sync(clientOf(res), anchor);
    res.set('Cache-Control', 'no-store');
    if (result.status === 304) {
      if (result.anchor !== undefined) res.set('X-Upcat-Anchor', result.anchor);
      res.status(304).end();
      return;
    }
    res.status(200).json(result.body);
  });
}
