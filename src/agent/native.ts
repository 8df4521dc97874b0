import { createPrivateKey, generateKeyPair, X509Certificate } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { createRequire } from 'node:module';
import { promisify } from 'node:util';
import type Forge from 'node-forge';
import { errnoCode, UpcatError } from '../errors.js';
import { writePrivateFile } from './state-dir.js';

/**
 * Native mode (issue 5 item 6, docs/AGENT.md): the agent's own RSA key (`<state>/client.key`,
 * 0600, never leaves the machine), the PKCS#10 request it sends at registration, and the
 * certificate the site CA issues on approval (`<state>/client.pem`), checked before it is kept.
 */
export const KEY_FILE = 'client.key';
export const CERT_FILE = 'client.pem';

/** The site CA signs RSA requests of at least 2048 bits (src/site/certificates.ts). */
const KEY_BITS = 2048;
/** The site's default HTTPS (mutual TLS) port (server.httpsPort). */
export const DEFAULT_HTTPS_PORT = 8531;

const generate = promisify(generateKeyPair);

/** The client key (PEM, PKCS#8), made on first use. */
export async function clientKey(stateDir: string): Promise<string> {
  const file = path.join(stateDir, KEY_FILE);
  const existing = await readOptional(file);
  if (existing !== undefined) return existing;
  const { privateKey } = await generate('rsa', {
    modulusLength: KEY_BITS,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  await writePrivateFile(file, privateKey);
  return privateKey;
}

// node-forge (some forty modules to compile) is loaded only when a request is made: `upcat agent
// status` reads this module's certificate facts on every run and needs none of it (issue 16).
const require = createRequire(import.meta.url);

/** A PKCS#10 request for the key; the site names the certificate by client ID, not by this CN. */
export function certificateRequest(keyPem: string, commonName: string): string {
  const forge = require('node-forge') as typeof Forge;
  const key = forge.pki.privateKeyFromPem(keyPem);
  const csr = forge.pki.createCertificationRequest();
  csr.publicKey = forge.pki.setRsaPublicKey(key.n, key.e);
  csr.setSubject([{ name: 'commonName', value: commonName.slice(0, 64) || 'upcat-agent' }]);
  csr.sign(key, forge.md.sha256.create());
  return forge.pki.certificationRequestToPem(csr);
}

/** The kept certificate, when it still belongs to the key (a new key makes it useless). */
export async function clientCertificate(
  stateDir: string,
  keyPem: string,
): Promise<string | undefined> {
  const pem = await readOptional(path.join(stateDir, CERT_FILE));
  if (pem === undefined) return undefined;
  try {
    return new X509Certificate(pem).checkPrivateKey(createPrivateKey(keyPem)) ? pem : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Keeps a certificate the site issued, after checking it is for this key, issued by the pinned
 * site CA, for this client, and currently valid: a site answer is not trusted blindly.
 */
export async function keepCertificate(
  stateDir: string,
  pem: string,
  expect: { keyPem: string; caPem: string; clientId: string; now?: Date },
): Promise<void> {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(pem);
  } catch (err) {
    throw new UpcatError('integrity', 'the site sent a client certificate that is not PEM X.509', {
      cause: err,
    });
  }
  if (!cert.checkPrivateKey(createPrivateKey(expect.keyPem)))
    throw new UpcatError('integrity', 'the site sent a client certificate for another key');
  const ca = new X509Certificate(expect.caPem);
  if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey))
    throw new UpcatError('integrity', 'the client certificate is not issued by the site CA');
  if (!cert.subject.split('\n').includes(`CN=${expect.clientId}`))
    throw new UpcatError(
      'integrity',
      `the client certificate names ${cert.subject.replace(/\n/g, ', ')}, not client ${expect.clientId}`,
    );
  const now = (expect.now ?? new Date()).getTime();
  if (Date.parse(cert.validTo) <= now)
    throw new UpcatError('integrity', `the client certificate expired at ${cert.validTo}`);
  await writePrivateFile(path.join(stateDir, CERT_FILE), pem);
}

/** Drops the certificate (revoked, or for another site). */
export async function dropCertificate(stateDir: string): Promise<void> {
  await rm(path.join(stateDir, CERT_FILE), { force: true });
}

/** Serial and expiry of the kept certificate, for `upcat agent status`. */
export async function certificateFacts(
  stateDir: string,
): Promise<{ serial: string; notAfter: string } | undefined> {
  const pem = await readOptional(path.join(stateDir, CERT_FILE));
  if (pem === undefined) return undefined;
  try {
    const cert = new X509Certificate(pem);
    return {
      serial: cert.serialNumber.toLowerCase(),
      notAfter: new Date(cert.validTo).toISOString(),
    };
  } catch {
    return undefined;
  }
}

/**
 * The HTTPS base URL of a native site: the URL itself when it is https, else the same host on
 * the HTTPS port (given, else the site's published one, else 8531).
 */
export function httpsBase(url: string, port: number | undefined): string {
  const u = new URL(url);
  if (u.protocol === 'https:') return url;
  u.protocol = 'https:';
  u.port = String(port ?? DEFAULT_HTTPS_PORT);
  return u.toString().replace(/\/+$/, '');
}

async function readOptional(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw err;
  }
}
