import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import type { RequestHandler, Response } from 'express';
import type { Site } from '../../app.js';
import { UpcatError } from '../../errors.js';
import { normalizeSerial } from '../../site/certificates.js';
import type { ClientRow } from '../../site/client-repo.js';
import { HARDWARE_ID_HEADER, noteHardwareId, presentedHardwareId } from '../../site/clones.js';
import { authenticateCertificate, authenticateSecret } from '../../site/identity.js';
import { bearerOf } from '../../site/secrets.js';

/**
 * Client routes. On the HTTPS listener a client certificate that Node's TLS verified against the
 * site CA names the client (native mode, issue 5 item 6); otherwise, or over HTTP,
 * `Authorization: Bearer <secret>` does (mixed mode). A certificate the site did not issue is not
 * an identity. Blocked clients (and revoked certificates) get 403 `client_blocked` here, so every
 * route behind this refuses them.
 *
 * A native-mode site takes the secret only where `secretInNativeMode` says so: what a client
 * needs before it holds a certificate (fetching the one approval issued). Elsewhere (sync,
 * status) a secret is refused with 403 `certificate_required` before it is even checked, so
 * policy never travels without mutual TLS and the answer says nothing about the secret.
 *
 * When the request names its hardware (`Upcat-Hardware-Id`) and that is not the record's, the
 * record is flagged as a suspected clone (site/clones.ts) and the request goes on.
 */
export function clientAuth(
  site: Pick<Site, 'db' | 'contacts' | 'syncFast' | 'config' | 'log'>,
  options: { secretInNativeMode?: boolean } = {},
): RequestHandler {
  return async (req, res, next) => {
    const serial = verifiedCertificateSerial(req.socket);
    let client: ClientRow;
    if (serial !== undefined) {
      client = await authenticateCertificate(site.db, serial);
    } else {
      const secret = bearerOf(req.get('authorization'));
      if (secret === undefined)
        throw new UpcatError(
          'unauthorized',
          'Authorization: a Bearer client secret or a site-issued client certificate is required',
        );
      if (site.config.site.mode === 'native' && options.secretInNativeMode !== true)
        throw new UpcatError(
          'certificate_required',
          `this native-mode site answers ${req.method} ${req.path} only over mutual TLS (HTTPS port ${site.config.server.httpsPort}) with the client certificate the site issued; a secret is accepted only to fetch that certificate`,
        );
      const mark = site.syncFast.mark();
      client = await authenticateSecret(site.db, secret);
      site.syncFast.remember(client, mark);
    }
    await noteHardwareId(site, client, presentedHardwareId(req.get(HARDWARE_ID_HEADER)));
    // Written behind the request (contacts.ts): a sync stays one read, no write.
    site.contacts.touch(client);
    res.locals['client'] = client;
    next();
  };
}

/**
 * The serial of the client certificate on this connection when TLS verified it against the site
 * CA (`requestCert`, `rejectUnauthorized: false`: an unverified one is simply not an identity).
 */
export function verifiedCertificateSerial(socket: Socket): string | undefined {
  if (!(socket instanceof TLSSocket) || !socket.authorized) return undefined;
  const serial = socket.getPeerCertificate().serialNumber;
  return typeof serial === 'string' && serial !== '' ? normalizeSerial(serial) : undefined;
}

/** The client that clientAuth authenticated for this request. */
export function clientOf(res: Response): ClientRow {
  const client = res.locals['client'] as ClientRow | undefined;
  if (client === undefined) throw new UpcatError('internal', 'route is missing clientAuth');
  return client;
}
