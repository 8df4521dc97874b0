import express, { type Router } from 'express';
import type { Site } from '../../app.js';
import { bearerOf } from '../../site/secrets.js';

/**
 * `POST /v1/clients` (issue 5 item 2): registration. A client that presents its own secret
 * re-registers under its ID; without one, it is a new registration of its hardware ID.
 */
export function clientRoutes(router: Router, site: Pick<Site, 'registration'>): void {
  router.post('/v1/clients', express.json({ limit: '16kb' }), async (req, res) => {
    const secret = bearerOf(req.get('authorization'));
    const result = await site.registration.register(req.body, {
      ...(secret === undefined ? {} : { secret }),
      ...(req.socket.remoteAddress === undefined ? {} : { source: req.socket.remoteAddress }),
    });
    res.status(201).set('Cache-Control', 'no-store').json(result);
  });
}
