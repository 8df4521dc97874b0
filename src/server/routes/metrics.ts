import type { IncomingHttpHeaders } from 'node:http';
import type { RequestHandler, Router } from 'express';
import type { Site } from '../../app.js';
import { UpcatError } from '../../errors.js';
import type { ServerMetrics } from '../metrics.js';
import { requireScope } from '../middleware/token-auth.js';

/**
 * `GET /metrics` (DESIGN.md §5): the Prometheus text exposition of this server process. The
 * metrics hold no secret (no token, client ID or URL query), but they tell how many clients sync
 * and how the site is used, so who may read them is the `server.metricsAccess` setting:
 * `loopback` (the default: a scraper on the same host), `open`, or `token` (a bearer token of
 * scope `admin`).
 */
export function metricsRoutes(
  router: Router,
  site: Pick<Site, 'config' | 'tokens'>,
  metrics: ServerMetrics,
): void {
  router.get('/metrics', metricsAccess(site), async (_req, res) => {
    const { contentType, body } = await metrics.text();
    res.set('Cache-Control', 'no-store').type(contentType).send(body);
  });
}

function metricsAccess(site: Pick<Site, 'config' | 'tokens'>): RequestHandler {
  const mode = site.config.server.metricsAccess;
  switch (mode) {
    case 'open':
      return (_req, _res, next) => next();
    case 'token':
      return requireScope(site, 'admin');
    case 'loopback':
      return (req, _res, next) => {
        if (!isLocalCaller(req.socket.remoteAddress, req.headers))
          throw new UpcatError(
            'forbidden',
            'GET /metrics answers callers on this host only (server.metricsAccess is loopback)',
          );
        next();
      };
  }
}

/**
 * A caller on this host: a loopback socket address and no forwarding header. A reverse proxy on
 * the same host connects from loopback on behalf of anyone; the headers it adds give it away, so
 * its callers are refused rather than taken for local ones.
 */
export function isLocalCaller(address: string | undefined, headers: IncomingHttpHeaders): boolean {
  if (headers['x-forwarded-for'] !== undefined || headers['forwarded'] !== undefined) return false;
  if (address === undefined) return false;
  const v4 = address.startsWith('::ffff:') ? address.slice('::ffff:'.length) : address;
  return v4 === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(v4);
}
