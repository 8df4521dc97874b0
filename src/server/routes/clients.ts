import type { Router } from 'express';
import type { Site } from '../../app.js';
import { UpcatError, isUpcatError, notFound } from '../../errors.js';
import type { ClientRow } from '../../site/client-repo.js';
import { checkPathId } from '../../site/fields.js';
import { authenticateCertificate } from '../../site/identity.js';
import { bearerOf } from '../../site/secrets.js';
import { jsonBody } from '../middleware/body.js';
import { clientAuth, clientOf, verifiedCertificateSerial } from '../middleware/client-auth.js';

/**
 * `POST /v1/clients` (issue 5 item 2): registration. A client that presents its own secret (or,
 * over mutual TLS, its site-issued certificate) re-registers under its ID; without one, it is a
 * new registration of its hardware ID. `GET /v1/clients/:id/certificate` (item 6): the client's
 * certificate once approval issued it.
 */
export function clientRoutes(
  router: Router,
  site: Pick<
    Site,
    'db' | 'registration' | 'certificates' | 'contacts' | 'syncFast' | 'config' | 'log'
  >,
): void {
  // Every route of this router with a client ID in its path, the admin ones (routes/reports.ts)
  // included: an ID that cannot name a record is a 400 before any query (PostgreSQL refuses a
  // NUL byte in a query parameter outright).
  router.param('clientId', (_req, _res, next, value: string) => {
    checkPathId(value, 'clientId');
    next();
  });

  router.post('/v1/clients', jsonBody(16 * 1024), async (req, res) => {
    const secret = bearerOf(req.get('authorization'));
    const certificateClient = await presentedClient(site, verifiedCertificateSerial(req.socket));
    const result = await site.registration.register(req.body, {
      ...(secret === undefined ? {} : { secret }),
      ...(certificateClient === undefined ? {} : { certificateClient }),
      ...(req.socket.remoteAddress === undefined ? {} : { source: req.socket.remoteAddress }),
    });
    res.status(201).set('Cache-Control', 'no-store').json(result);
  });

  // Native mode: a client reads its certificate with its secret, since it has none yet.
  const certificateAuth = clientAuth(site, { secretInNativeMode: true });
  router.get('/v1/clients/:clientId/certificate', certificateAuth, async (req, res) => {
    const client = clientOf(res);
    const asked = String(req.params['clientId']).toLowerCase();
    if (asked !== client.client_id)
      throw new UpcatError('forbidden', 'a client may read its own certificate only');
    const cert = await site.certificates.current(site.db, client.client_id);
    if (cert === undefined) {
      throw notFound(
        `client ${client.client_id} has no certificate: it sent no request, is pending approval, or its certificate was revoked`,
      );
    }
    res.set('Cache-Control', 'no-store').json({
      clientId: client.client_id,
      serial: cert.serial,
      notAfter: cert.notAfter,
      certificate: cert.certificatePem,
    });
  });
}

/**
 * The client a verified certificate belongs to. A revoked one (a blocked client) is refused; one
 * that no longer names a usable record (replaced, unknown) is ignored: a fresh registration.
 */
async function presentedClient(
  site: Pick<Site, 'db'>,
  serial: string | undefined,
): Promise<ClientRow | undefined> {
  if (serial === undefined) return undefined;
  try {
    return await authenticateCertificate(site.db, serial);
  } catch (err) {
    if (isUpcatError(err) && (err.code === 'unauthorized' || err.code === 'client_replaced'))
      return undefined;
    throw err;
  }
}
