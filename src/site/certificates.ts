import forge from 'node-forge';
import type { Logger } from 'pino';
import type { SiteConfig } from '../config/schema.js';
import { UpcatError } from '../errors.js';
import { issueCertificate, loadCa, type KeyPairPem } from '../signing/ca.js';
import { buildCrl } from '../signing/crl.js';
import { now } from '../storage/catalog-repo.js';
import type { Db } from '../storage/db.js';
import type { Q } from './client-repo.js';

/**
 * Client certificates in native mode (issue 5 items 5-6): the site CA issues one from the
 * request a client sent at registration when the client is approved; blocking revokes them and
 * the CRL lists them. The certificate's subject is the client ID; its serial is the table's key.
 */
export interface IssuedCertificate {
  serial: string;
  certificatePem: string;
  notAfter: string;
}

const MIN_RSA_BITS = 2048;
const CLIENT_CERT_DAYS = 397;
const CRL_VALID_MS = 7 * 24 * 60 * 60 * 1000;
/** A cached CRL is re-signed after this long even when nothing was revoked since. */
const CRL_REFRESH_MS = 60 * 60 * 1000;

/** Lower-case hex without leading zeros, so forge's and Node's spellings of a serial agree. */
export function normalizeSerial(hex: string): string {
  return hex.toLowerCase().replace(/^0+(?=.)/, '');
}

/** Validates a PEM PKCS#10 request at the edge: readable, self-signed correctly, RSA >= 2048 bits. */
export function checkCsr(pem: string): void {
  let csr: forge.pki.CertificateSigningRequest;
  try {
    csr = forge.pki.certificationRequestFromPem(pem);
  } catch (err) {
    throw new UpcatError('invalid_input', 'csr: not a PEM PKCS#10 RSA certificate request', {
      cause: err,
    });
  }
  if (csr.publicKey === null || !csr.verify())
    throw new UpcatError('invalid_input', 'csr: the request signature does not verify');
  const bits = (csr.publicKey as forge.pki.rsa.PublicKey).n.bitLength();
  if (bits < MIN_RSA_BITS)
    throw new UpcatError(
      'invalid_input',
      `csr: an RSA key of at least ${MIN_RSA_BITS} bits is required`,
    );
}

export class ClientCertificates {
  private ca: Promise<KeyPairPem> | undefined;
  private crlCache: { key: string; at: number; der: Buffer } | undefined;

  constructor(private readonly deps: { db: Db; config: SiteConfig; log: Logger }) {}

  /** Issues a clientAuth certificate for `csrPem` to `clientId`; call inside the approving transaction. */
  async issue(q: Q, clientId: string, csrPem: string): Promise<IssuedCertificate> {
    const certificatePem = issueCertificate(await this.loadCa(), {
      subject: { commonName: clientId, organizationName: this.deps.config.site.name },
      publicKey: { csrPem },
      usage: 'clientAuth',
      validityDays: CLIENT_CERT_DAYS,
    });
    const cert = forge.pki.certificateFromPem(certificatePem);
    const issued = {
      serial: normalizeSerial(cert.serialNumber),
      certificatePem,
      notAfter: cert.validity.notAfter.toISOString(),
    };
    await q('client_certificates').insert({
      serial: issued.serial,
      client_id: clientId,
      certificate_pem: certificatePem,
      not_before: cert.validity.notBefore.toISOString(),
      not_after: issued.notAfter,
      issued_at: now(),
      revoked_at: null,
    });
    this.deps.log.info({ clientId, serial: issued.serial }, 'client certificate issued');
    return issued;
  }

  /** The client's newest certificate that is neither revoked nor expired. */
  async current(q: Q, clientId: string): Promise<IssuedCertificate | undefined> {
    const row = (await q('client_certificates')
      .where({ client_id: clientId })
      .whereNull('revoked_at')
      .where('not_after', '>', now())
      .orderBy('issued_at', 'desc')
      .first('serial', 'certificate_pem', 'not_after')) as
      { serial: string; certificate_pem: string; not_after: string } | undefined;
    return row === undefined
      ? undefined
      : { serial: row.serial, certificatePem: row.certificate_pem, notAfter: row.not_after };
  }

  /** Revokes every live certificate of the client (blocking); the number revoked. */
  async revokeAll(q: Q, clientId: string): Promise<number> {
    const n = await q('client_certificates')
      .where({ client_id: clientId })
      .whereNull('revoked_at')
      .update({ revoked_at: now() });
    if (n > 0) this.deps.log.info({ clientId, revoked: n }, 'client certificates revoked');
    return n;
  }

  /**
   * The CRL (DER) of revoked certificates that have not expired yet. Rebuilt when a revocation
   * lands (any node's: the key is read from the shared database) or the cached one ages.
   */
  async crl(): Promise<Buffer> {
    const at = now();
    const live = this.deps
      .db('client_certificates')
      .whereNotNull('revoked_at')
      .where('not_after', '>', at);
    const stat = (await live.clone().count({ n: '*' }).max({ last: 'revoked_at' }).first()) as
      { n: number | string; last: string | null } | undefined;
    const key = `${Number(stat?.n ?? 0)}|${stat?.last ?? ''}`;
    const cached = this.crlCache;
    if (cached?.key === key && Date.now() - cached.at < CRL_REFRESH_MS) return cached.der;
    const rows = (await live.clone().orderBy('serial').select('serial', 'revoked_at')) as Array<{
      serial: string;
      revoked_at: string;
    }>;
    const thisUpdate = new Date();
    const der = buildCrl(
      await this.loadCa(),
      rows.map((r) => ({ serial: r.serial, revokedAt: new Date(r.revoked_at) })),
      {
        thisUpdate,
        nextUpdate: new Date(thisUpdate.getTime() + CRL_VALID_MS),
        crlNumber: Math.floor(thisUpdate.getTime() / 1000),
      },
    );
    this.crlCache = { key, at: Date.now(), der };
    return der;
  }

  private loadCa(): Promise<KeyPairPem> {
    this.ca ??= loadCa(this.deps.config.dirs.signing);
    this.ca.catch(() => {
      this.ca = undefined; // no CA yet ("upcat init"), or unreadable: try again next time
    });
    return this.ca;
  }
}
