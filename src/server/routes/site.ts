import type { Router } from 'express';
import type { Site } from '../../app.js';
import { SITE_VERSION } from '../../version.js';
import { siteInfo } from '../../site/site-info.js';
import { verifiedCertificateSerial } from '../middleware/client-auth.js';

/** `GET /v1/site` (DESIGN.md §5): what a client needs to know before it registers. */
export function siteRoutes(
  router: Router,
  site: Pick<Site, 'config' | 'catalog' | 'db' | 'sync'>,
): void {
  router.get('/v1/site', async (req, res) => {
    const { code, name, mode, minimumClientVersion } = site.config.site;
    res.set({ 'Cache-Control': 'no-cache', Vary: 'Authorization' }).json({
      siteCode: code,
      siteName: name,
      siteVersion: SITE_VERSION,
      mode,
      minimumClientVersion,
      catalogVersion: await site.catalog.catalogVersion(),
      ...(await siteInfo(site, {
        authorization: req.get('authorization'),
        certificateSerial: verifiedCertificateSerial(req.socket),
      })),
    });
  });
}
