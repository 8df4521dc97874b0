import type { RequestHandler, Response } from 'express';
import type { Site } from '../../app.js';
import { UpcatError } from '../../errors.js';
import type { ClientRow } from '../../site/client-repo.js';
import { authenticateSecret } from '../../site/identity.js';
import { bearerOf } from '../../site/secrets.js';

/** last_contact is written at most this often per client, so a sync stays read-only in between. */
const TOUCH_INTERVAL_MS = 5 * 60 * 1000;

/**
 * Client routes (mixed mode): `Authorization: Bearer <secret>` names and proves the client.
 * Blocked clients get 403 `client_blocked` here, so every route behind this refuses them.
 */
export function clientAuth(site: Pick<Site, 'db'>): RequestHandler {
  return async (req, res, next) => {
    const secret = bearerOf(req.get('authorization'));
    if (secret === undefined)
      throw new UpcatError('unauthorized', 'Authorization: a Bearer client secret is required');
    const client = await authenticateSecret(site.db, secret);
    const at = Date.now();
    if (client.last_contact === null || at - Date.parse(client.last_contact) > TOUCH_INTERVAL_MS) {
      await site
        .db('clients')
        .where({ client_id: client.client_id })
        .update({ last_contact: new Date(at).toISOString() });
    }
    res.locals['client'] = client;
    next();
  };
}

/** The client that clientAuth authenticated for this request. */
export function clientOf(res: Response): ClientRow {
  const client = res.locals['client'] as ClientRow | undefined;
  if (client === undefined) throw new UpcatError('internal', 'route is missing clientAuth');
  return client;
}
