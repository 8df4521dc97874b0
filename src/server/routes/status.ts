import type { Router } from 'express';
import type { Site } from '../../app.js';
import { jsonBody } from '../middleware/body.js';
import { clientAuth, clientOf } from '../middleware/client-auth.js';
import { rateLimit } from '../middleware/rate-limit.js';

/**
 * State messages (issue 5 item 9): `POST /v1/status` from authenticated clients, and the
 * fallback status point `POST /fsp/v1/status` for clients that cannot authenticate: limited
 * per source address before the body is read, size-limited while it is read, then validated.
 */
export function statusRoutes(
  router: Router,
  site: Pick<Site, 'db' | 'status' | 'config' | 'contacts' | 'syncFast' | 'log'>,
): void {
  router.post('/v1/status', clientAuth(site), jsonBody(256 * 1024), async (req, res) => {
    const result = await site.status.fromClient(
      clientOf(res).client_id,
      req.body,
      req.socket.remoteAddress,
    );
    res.status(202).json(result);
  });

  const fsp = site.config.site.fallbackStatus;
  router.post(
    '/fsp/v1/status',
    rateLimit({ perMinute: fsp.perMinute, trustedProxies: site.config.server.trustedProxies }),
    jsonBody(fsp.maxBodyBytes),
    async (req, res) => {
      const result = await site.status.fromFallback(
        req.body,
        req.socket.remoteAddress ?? 'unknown',
      );
      res.status(202).json(result);
    },
  );
}
