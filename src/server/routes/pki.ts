import type { Router } from 'express';
import type { Site } from '../../app.js';
import { errorBody } from '../middleware/errors.js';

/** `GET /pki/ca.pem`: the site CA certificate, the anchor for payload signatures (DESIGN.md §3). */
export function pkiRoutes(router: Router, site: Pick<Site, 'signing'>): void {
  router.get('/pki/ca.pem', (_req, res) => {
    if (site.signing === undefined) {
      res.status(404).json(errorBody('not_found', 'this site has no CA yet (run "upcat init")'));
      return;
    }
    res
      .set({ 'Content-Type': 'application/x-pem-file', 'Cache-Control': 'public, max-age=3600' })
      .send(site.signing.caCertificatePem);
  });
}
