import type { Request, RequestHandler, Response } from 'express';
import type { Site } from '../../app.js';
import { UpcatError } from '../../errors.js';
import { bearerOf } from '../../site/secrets.js';
import { scopeAllows, type TokenScope } from '../../site/tokens.js';
import { auditToken } from '../../storage/catalog-repo.js';
import { userActor } from '../../site/users.js';
import type { SessionService } from '../../site/sessions.js';
import { sessionCookieOf } from './session-cookie.js';

/**
 * The session service, when the site has one. Typed optional so that every caller's narrowed
 * `Pick<Site, 'tokens' | ...>` still fits; the composition root always provides it.
 */
type SessionSite = { sessions?: Pick<SessionService, 'authenticate' | 'csrfMatches'> };

/** Requests that change something: a session must prove them with its CSRF token. */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Release-pipeline and admin routes (issue 7): `Authorization: Bearer <token>` with a token of
 * the scope the route needs (site/tokens.ts says which scope implies which). A missing, unknown,
 * expired or revoked token is 401 `unauthorized`; a valid one of another scope is 403 `forbidden`.
 * The token's name becomes the actor that the audit log records, and its id goes beside it
 * (a name is free again once its token is revoked; the id never is).
 */
export function requireScope(
  site: Pick<Site, 'tokens'> & SessionSite,
  scope: TokenScope,
): RequestHandler {
  return async (req, res, next) => {
    const secret = bearerOf(req.get('authorization'));
    const session = secret === undefined ? sessionCookieOf(req.get('cookie')) : undefined;
    if (session !== undefined && site.sessions !== undefined) {
      await authorizeSession(site.sessions, session, scope, req, res);
      next();
      return;
    }
    if (secret === undefined)
      throw new UpcatError(
        'unauthorized',
        `Authorization: a Bearer token with scope ${scope} is required`,
      );
    const token = await site.tokens.authenticate(secret);
    if (!scopeAllows(token.scope, scope))
      throw new UpcatError(
        'forbidden',
        `token "${token.name}" has scope ${token.scope}; this route needs ${scope}`,
      );
    const actor = `token:${token.name}`;
    res.locals['actor'] = actor;
    res.locals['tokenId'] = token.id;
    // The rest of the request runs inside this context, so the services' audit rows get the id.
    auditToken.run({ id: token.id, actor }, next);
  };
}

/**
 * A person's session (issue 14 item 4), when the request carries no Bearer token: the role's
 * scope is judged as a token's would be (401 for a dead session, 403 for too small a role), and
 * a state-changing request must carry `X-CSRF-Token`, the session's token, since the browser
 * sends the cookie on its own (a Bearer token is never sent by a browser unasked, so needs none).
 * The actor is `user:<name>`.
 */
async function authorizeSession(
  sessions: NonNullable<SessionSite['sessions']>,
  sessionId: string,
  scope: TokenScope,
  req: Request,
  res: Response,
): Promise<void> {
  const who = await sessions.authenticate(sessionId);
  if (!SAFE_METHODS.has(req.method) && !sessions.csrfMatches(sessionId, req.get('x-csrf-token')))
    throw new UpcatError(
      'forbidden',
      'CSRF: a change made with a session cookie needs the header X-CSRF-Token (from POST or GET /v1/session)',
    );
  if (!scopeAllows(who.scope, scope))
    throw new UpcatError(
      'forbidden',
      `user "${who.user.name}" has role ${who.user.role}; this route needs scope ${scope}`,
    );
  res.locals['actor'] = userActor(who.user.name);
  res.locals['userId'] = who.user.id;
}

/** The actor that requireScope authenticated for this request (for the audit log). */
export function actorOf(res: Response): string {
  const actor = res.locals['actor'] as string | undefined;
  if (actor === undefined) throw new UpcatError('internal', 'route is missing requireScope');
  return actor;
}

/**
 * A stable identity of the authenticated token, for state scoped to a caller (idempotency
 * keys): the token's id, not its name, so a new token given a revoked token's name does not
 * inherit that token's keys.
 */
export function actorKeyOf(res: Response): string {
  const userId = res.locals['userId'] as string | undefined;
  if (userId !== undefined) return `user-id:${userId}`;
  const id = res.locals['tokenId'] as string | undefined;
  if (id === undefined) throw new UpcatError('internal', 'route is missing requireScope');
  return `token-id:${id}`;
}
