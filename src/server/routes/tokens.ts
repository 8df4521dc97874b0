import type { Router } from 'express';
import type { Site } from '../../app.js';
import { UpcatError } from '../../errors.js';
import { checkPathId } from '../../site/fields.js';
import { jsonBody } from '../middleware/body.js';
import { actorOf, requireScope } from '../middleware/token-auth.js';
import { pageLimitOf, sendJsonWithEtag } from '../paging.js';
import { paramOf, textPairCursor } from '../params.js';

/**
 * API tokens over HTTP (issue 14 item 1), admin only: list (never a secret or a hash), create
 * (the secret is in this one answer and nowhere else), revoke. The service (site/tokens.ts)
 * validates, stores the hash and writes the audit rows, as for `upcat token`.
 */
export function tokenRoutes(router: Router, site: Pick<Site, 'tokens'>): void {
  const admin = requireScope(site, 'admin');

  router.get('/v1/tokens', admin, async (req, res) => {
    const { limit, cursor, ...rest } = req.query;
    const unknown = Object.keys(rest);
    if (unknown.length > 0)
      throw new UpcatError('invalid_input', `${unknown.join(', ')}: unknown query parameter`);
    const page = await site.tokens.page(pageLimitOf(limit), textPairCursor(cursor, 'tokens'));
    sendJsonWithEtag(req, res, { tokens: page.items, next: page.next });
  });

  router.post('/v1/tokens', admin, jsonBody(4 * 1024), async (req, res) => {
    const body: unknown = req.body;
    if (typeof body !== 'object' || body === null || Array.isArray(body))
      throw new UpcatError('invalid_input', 'token: a JSON object {name?, scope, expiresIn?}');
    const created = await site.tokens.create(body as { scope: string }, actorOf(res));
    // The secret is shown once: no cache may keep this answer.
    res.status(201).set('Cache-Control', 'no-store').json(created);
  });

  router.delete('/v1/tokens/:tokenId', admin, async (req, res) => {
    const id = checkPathId(paramOf(req.params, 'tokenId'), 'tokenId', 128);
    res.json(await site.tokens.revoke(id, actorOf(res)));
  });
}
