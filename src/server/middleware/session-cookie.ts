import type { Request, Response } from 'express';
import { SESSION_ID } from '../../site/sessions.js';
import { fromTrustedProxy } from '../trusted-proxy.js';

/**
 * The one cookie upcat sets: `upcat_session`, a person's login session (issue 14 item 4).
 * Parsed strictly by hand rather than by a generic cookie deserializer: only this name is read,
 * its value must have the exact shape of a session id (43 base64url characters, no quoting, no
 * percent-decoding), and a header naming it twice counts as no session, since which one a
 * proxy or browser meant cannot be known.
 */
export const SESSION_COOKIE = 'upcat_session';

/** The session id the `Cookie` header carries; undefined when it carries none (or not one). */
export function sessionCookieOf(header: string | undefined): string | undefined {
  if (header === undefined || header.length > 8192) return undefined;
  let found: string | undefined;
  let count = 0;
  for (const pair of header.split(';')) {
    const eq = pair.indexOf('=');
    if (eq < 0 || pair.slice(0, eq).trim() !== SESSION_COOKIE) continue;
    count += 1;
    found = pair.slice(eq + 1).trim();
  }
  return count === 1 && found !== undefined && SESSION_ID.test(found) ? found : undefined;
}

/**
 * Whether the request came over HTTPS: to the TLS listener of serve.ts, or to a reverse proxy
 * in `server.trustedProxies` that says so with `X-Forwarded-Proto: https` (from anyone else
 * that header is ignored).
 */
export function cameOverHttps(req: Request, trustedProxies: readonly string[]): boolean {
  if ((req.socket as { encrypted?: boolean }).encrypted === true) return true;
  return (
    fromTrustedProxy(req.socket.remoteAddress, trustedProxies) &&
    req.get('x-forwarded-proto')?.trim().toLowerCase() === 'https'
  );
}

/**
 * Sets the session cookie: HttpOnly (page scripts never read it), SameSite=Strict (another
 * site cannot make the browser send it), Path=/, Secure when the login came over HTTPS (a
 * cookie marked Secure is never sent back over plain HTTP, so on an HTTP-only site it would
 * never work), and the session's absolute lifetime as Max-Age.
 */
export function setSessionCookie(
  res: Response,
  sessionId: string,
  options: { maxAgeMs: number; secure: boolean },
): void {
  res.append(
    'Set-Cookie',
    cookieText(sessionId, Math.floor(options.maxAgeMs / 1000), options.secure),
  );
}

/** Tells the browser to drop the cookie (logout, or a session that is no longer valid). */
export function clearSessionCookie(res: Response, secure: boolean): void {
  res.append('Set-Cookie', cookieText('', 0, secure));
}

function cookieText(value: string, maxAgeSeconds: number, secure: boolean): string {
  const parts = [
    `${SESSION_COOKIE}=${value}`,
    'Path=/',
    'HttpOnly',
    'SameSite=Strict',
    `Max-Age=${maxAgeSeconds}`,
  ];
  if (secure) parts.push('Secure');
  return parts.join('; ');
}
