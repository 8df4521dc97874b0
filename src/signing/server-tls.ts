import { readFile } from 'node:fs/promises';
import path from 'node:path';
import forge from 'node-forge';
import type { SiteConfig } from '../config/schema.js';
import { UpcatError, errnoCode } from '../errors.js';
import { issueCertificate, loadCa, readPair, rsaKeyPair, writePair } from './ca.js';

/**
 * The HTTPS listener's TLS material (issue 5 item 6): the operator's certificate and key when
 * `server.tlsCert`/`server.tlsKey` name them, else a serverAuth certificate from the site CA for
 * `server.tlsNames`, kept under signing/pki/ (key 0600) and re-issued when the names change or it
 * nears expiry. Client certificates are always verified against the site CA.
 */
export interface ServerTls {
  key: string;
  cert: string;
  /** The site CA: the only issuer whose client certificates authenticate. */
  ca: string;
}

const RENEW_BEFORE_MS = 30 * 24 * 60 * 60 * 1000;
const SERVER_KEY_BITS = 2048;

export async function loadServerTls(config: SiteConfig): Promise<ServerTls> {
  const ca = await loadCa(config.dirs.signing);
  const { tlsCert, tlsKey, tlsNames } = config.server;
  if (tlsCert !== undefined || tlsKey !== undefined) {
    if (tlsCert === undefined || tlsKey === undefined)
      throw new UpcatError('invalid_config', 'server.tlsCert and server.tlsKey go together');
    return {
      cert: await readOperatorFile(path.resolve(config.home, tlsCert), 'server.tlsCert'),
      key: await readOperatorFile(path.resolve(config.home, tlsKey), 'server.tlsKey'),
      ca: ca.certificatePem,
    };
  }
  const certFile = path.join(config.dirs.signing, 'pki', 'server.pem');
  const keyFile = path.join(config.dirs.signing, 'pki', 'server.key.pem');
  const existing = await readPair(certFile, keyFile);
  if (existing !== undefined && stillFits(existing.certificatePem, tlsNames)) {
    return { cert: existing.certificatePem, key: existing.privateKeyPem, ca: ca.certificatePem };
  }
  const keys = rsaKeyPair(SERVER_KEY_BITS);
  const certificatePem = issueCertificate(ca, {
    subject: { commonName: tlsNames[0] ?? 'localhost', organizationName: config.site.name },
    publicKey: { pem: keys.publicKeyPem },
    usage: 'serverAuth',
    dnsNames: tlsNames,
    validityDays: 397,
  });
  await writePair(certFile, keyFile, { certificatePem, privateKeyPem: keys.privateKeyPem });
  return { cert: certificatePem, key: keys.privateKeyPem, ca: ca.certificatePem };
}

/** The site-issued certificate names exactly `names` and is not about to expire. */
function stillFits(pem: string, names: readonly string[]): boolean {
  const cert = forge.pki.certificateFromPem(pem);
  if (cert.validity.notAfter.getTime() - Date.now() < RENEW_BEFORE_MS) return false;
  const san = cert.getExtension('subjectAltName') as {
    altNames?: Array<{ value?: string; ip?: string }>;
  } | null;
  const have = (san?.altNames ?? []).map((a) => a.ip ?? a.value ?? '').sort();
  const want = [...names].sort();
  return have.length === want.length && have.every((n, i) => n === want[i]);
}

async function readOperatorFile(file: string, field: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    throw new UpcatError(
      'invalid_config',
      `${field}: cannot read ${file} (${errnoCode(err) ?? 'error'})`,
      { cause: err },
    );
  }
}
