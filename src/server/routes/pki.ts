import type { Router } from 'express';
import type { Site } from '../../app.js';
import { errorBody } from '../middleware/errors.js';

/**
 * `GET /pki/ca.pem`: the site CA certificate, the anchor for payload signatures and, in native
 * mode, for client and server certificates (DESIGN.md §3). `GET /pki/crl`: the CA's revocation
 * list, DER (`application/pkix-crl`, as CRL distribution points serve it): blocked clients'
 * certificates (issue 5 item 5).
 */
export function pkiRoutes(router: Router, site: Pick<Site, 'signing' | 'certificates'>): void {
  router.get('/pki/ca.pem', (_req, res) => {
    if (site.signing === undefined) {
      res.status(404).json(errorBody('not_found', 'this site has no CA yet (run "upcat init")'));
      return;
    }
    res
      .set({ 'Content-Type': 'application/x-pem-file', 'Cache-Control': 'public, max-age=3600' })
      .send(site.signing.caCertificatePem);
  });

  router.get('/pki/crl', async (_req, res) => {
    if (site.signing === undefined) {
      res.status(404).json(errorBody('not_found', 'this site has no CA yet (run "upcat init")'));
      return;
    }
    // Short caching: a revocation must reach relying parties soon.
    res
      .set({ 'Content-Type': 'application/pkix-crl', 'Cache-Control': 'public, max-age=60' })
      .send(await site.certificates.crl());
  });
}
