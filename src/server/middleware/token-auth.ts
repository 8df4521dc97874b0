import type { RequestHandler, Response } from 'express';
import type { Site } from '../../app.js';
import { UpcatError } from '../../errors.js';
import { bearerOf } from '../../site/secrets.js';
import { scopeAllows, type TokenScope } from '../../site/tokens.js';
import { auditToken } from '../../storage/catalog-repo.js';

/**
 * Release-pipeline and admin routes (issue 7): `Authorization: Bearer <token>` with a token of
 * the scope the route needs (site/tokens.ts says which scope implies which). A missing, unknown,
 * expired or revoked token is 401 `unauthorized`; a valid one of another scope is 403 `forbidden`.
 * The token's name becomes the actor that the audit log records, and its id goes beside it
 * (a name is free again once its token is revoked; the id never is).
 */
export function requireScope(site: Pick<Site, 'tokens'>, scope: TokenScope): RequestHandler {
  return async (req, res, next) => {
    const secret = bearerOf(req.get('authorization'));
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
  const id = res.locals['tokenId'] as string | undefined;
  if (id === undefined) throw new UpcatError('internal', 'route is missing requireScope');
  return `token-id:${id}`;
}
