import type { Request, Response, Router } from 'express';
import type { Site } from '../../app.js';
import { UpcatError } from '../../errors.js';
import { loginInput, type SessionIdentity } from '../../site/sessions.js';
import { parseWith } from '../../validation.js';
import { jsonBody } from '../middleware/body.js';
import { RateWindows, sourceKey } from '../middleware/rate-limit.js';
import {
  cameOverHttps,
  clearSessionCookie,
  sessionCookieOf,
  setSessionCookie,
} from '../middleware/session-cookie.js';
import { clientAddress } from '../trusted-proxy.js';

type SessionSite = Pick<Site, 'sessions' | 'config'>;

/** Per account name, attempts are counted over this window (a slow, many-address guesser). */
const ACCOUNT_WINDOW_MS = 15 * 60_000;

/**
 * People's login (issue 14 item 4; docs/PROTOCOL.md "Sessions"):
 * - `POST /v1/session` `{name, password}`: sets the `upcat_session` cookie and answers who and
 *   the CSRF token;
 * - `GET /v1/session`: who holds the cookie, and the CSRF token again (after a page reload);
 * - `DELETE /v1/session`: logout (with the CSRF token while the session is live).
 * Login attempts are limited per source address (`server.loginAttemptsPerMinute` a minute, every
 * attempt counted) and per account name (as many failures per 15 minutes), whether the account
 * exists or not: a 429 tells nothing about the account.
 */
export function sessionRoutes(router: Router, site: SessionSite): void {
  const perMinute = site.config.server.loginAttemptsPerMinute;
  const bySource = new RateWindows(perMinute, 60_000, 100_000);
  const byAccount = new RateWindows(perMinute, ACCOUNT_WINDOW_MS, 100_000);
  const secure = (req: Request): boolean => cameOverHttps(req, site.config.server.trustedProxies);

  router.post('/v1/session', jsonBody(8 * 1024), async (req, res) => {
    const body = parseWith(loginInput, req.body ?? {}, 'login');
    const source = clientAddress(
      req.socket.remoteAddress,
      req.headers['x-forwarded-for'],
      site.config.server.trustedProxies,
    );
    limit(res, bySource.hit(sourceKey(source)), 'from this address');
    const account = body.name.trim().toLowerCase().slice(0, 64);
    limit(res, byAccount.peek(account), 'for this account');
    const started = await site.sessions.login(body.name, body.password).catch((err: unknown) => {
      byAccount.hit(account); // failures only: a person's own logins never lock them out
      throw err;
    });
    setSessionCookie(res, started.sessionId, {
      maxAgeMs: site.sessions.maxAgeMs,
      secure: secure(req),
    });
    answer(res, started);
  });

  router.get('/v1/session', async (req, res) => {
    const id = sessionCookieOf(req.get('cookie'));
    if (id === undefined) throw new UpcatError('unauthorized', 'session: not logged in');
    answer(res, await site.sessions.authenticate(id));
  });

  router.delete('/v1/session', async (req, res) => {
    const id = sessionCookieOf(req.get('cookie'));
    if (id !== undefined) {
      const live = await site.sessions.authenticate(id).catch(() => undefined);
      // A live session is ended only by its own page: another site cannot log a person out.
      if (live !== undefined && !site.sessions.csrfMatches(id, req.get('x-csrf-token')))
        throw new UpcatError('forbidden', 'CSRF: logout needs the header X-CSRF-Token');
      await site.sessions.logout(id);
    }
    clearSessionCookie(res, secure(req));
    res.status(204).end();
  });
}

function limit(res: Response, hit: { allowed: boolean; retryAfterMs: number }, what: string): void {
  if (hit.allowed) return;
  res.set('Retry-After', String(Math.max(1, Math.ceil(hit.retryAfterMs / 1000))));
  throw new UpcatError('rate_limited', `login: too many attempts ${what}; retry later`);
}

function answer(res: Response, who: SessionIdentity): void {
  res.set('Cache-Control', 'no-store');
  res.json({ user: { name: who.user.name, role: who.user.role }, csrfToken: who.csrfToken });
}
