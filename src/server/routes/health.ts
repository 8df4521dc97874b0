import type { Router } from 'express';
import type { Site } from '../../app.js';

/** `GET /healthz`: the process is up and its database answers. */
export function healthRoutes(router: Router, site: Pick<Site, 'catalog'>): void {
  router.get('/healthz', async (_req, res) => {
    const catalogVersion = await site.catalog.catalogVersion();
    res.set('Cache-Control', 'no-store').json({ status: 'ok', catalogVersion });
  });
}
