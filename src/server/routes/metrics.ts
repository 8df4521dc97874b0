import type { IncomingHttpHeaders } from 'node:http';
import type { RequestHandler, Router } from 'express';
import type { Site } from '../../app.js';
import { UpcatError } from '../../errors.js';
import type { ServerMetrics } from '../metrics.js';
import { requireScope } from '../middleware/token-auth.js';
import { fromTrustedProxy, unmapped } from '../trusted-proxy.js';

/**
 * `GET /metrics` (DESIGN.md §5): the Prometheus text exposition of this server process (of every
 * worker process, each sample labelled `worker`, with server.workers > 1). The
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
    const { contentType, body } = await metrics.exposition();
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
        const proxies = site.config.server.trustedProxies;
        if (!isLocalCaller(req.socket.remoteAddress, req.headers, proxies))
          throw new UpcatError(
            'forbidden',
            'GET /metrics answers callers on this host only (server.metricsAccess is loopback)',
          );
        next();
      };
  }
}

/** Headers by which a proxy says on whose behalf it connects. */
const FORWARDING = ['forwarded', 'x-forwarded-for', 'x-real-ip'] as const;

/**
 * A caller on this host (issue 13 item 7). From a socket that is not a configured proxy
 * (`server.trustedProxies`), forwarding headers are never believed: a loopback socket that
 * carries one is a proxy on this host connecting on behalf of someone else, so it is refused
 * rather than taken for a local caller. From a configured proxy, the caller is the address the
 * proxy names (the last hop it appended), and that must be a loopback address.
 */
export function isLocalCaller(
  address: string | undefined,
  headers: IncomingHttpHeaders,
  trustedProxies: readonly string[] = [],
): boolean {
  if (address === undefined) return false;
  const socket = unmapped(address);
  const proxied = FORWARDING.some((h) => headers[h] !== undefined);
  if (!proxied) return isLoopback(socket);
  if (!fromTrustedProxy(socket, trustedProxies)) return false;
  const named = forwardedFor(headers);
  return named !== undefined && isLoopback(unmapped(named));
}

/** The address the proxy appended last: X-Forwarded-For's last entry, else X-Real-IP, else Forwarded's last for=. */
function forwardedFor(headers: IncomingHttpHeaders): string | undefined {
  const last = (v: string | string[] | undefined): string | undefined => {
    const joined = Array.isArray(v) ? v.join(',') : v;
    const parts = joined
      ?.split(',')
      .map((p) => p.trim())
      .filter((p) => p !== '');
    return parts?.[parts.length - 1];
  };
  const xff = last(headers['x-forwarded-for']);
  if (xff !== undefined) return xff;
  const real = last(headers['x-real-ip']);
  if (real !== undefined) return real;
  const fwd = last(headers['forwarded']);
  const m = fwd === undefined ? null : /for="?\[?([^\]";]+)\]?"?/i.exec(fwd);
  return m?.[1];
}

function isLoopback(address: string): boolean {
  return address === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(address);
}
