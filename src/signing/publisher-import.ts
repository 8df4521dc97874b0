/**
 * The publisher certificate an operator really has (issue 11 item 7): a code-signing certificate
 * from the organization's PKI, imported from a PFX (PKCS#12) or PEM files, checked, and from then
 * on used for payload CMS signatures and Authenticode instead of the one the site CA issued.
 *
 * Checks, all before anything is written (RFC 5280 §4.2.1.3 keyUsage, §4.2.1.12 extKeyUsage):
 *  - the key is RSA of at least 2048 bits: node-forge, which makes the CMS and Authenticode
 *    signatures, signs RSA (PKCS#1 v1.5) only, so ECDSA keys are refused by name;
 *  - the key is the certificate's key;
 *  - the certificate is valid now (not expired, not yet valid) and is not a CA;
 *  - its extended key usage names codeSigning, and its keyUsage, when present, digitalSignature;
 *  - a chain, when given, holds the certificate's issuer.
 * Stored under signing/pki/imported/ (cert, key mode 0600, chain; a symlink to a directory
 * swapped in one rename), so a reader sees the old publisher or the new one, never a mix. Nothing here logs a key.
 */
import {
  createPrivateKey,
  createPublicKey,
  randomBytes,
  X509Certificate,
  type KeyObject,
} from 'node:crypto';
import { chmod, mkdir, readFile, readlink, rename, rm, stat, symlink } from 'node:fs/promises';
import path from 'node:path';
import forge from 'node-forge';
import { errnoCode, invalidInput, UpcatError } from '../errors.js';
import { loadCa, loadPublisher, type KeyPairPem } from './ca.js';
import { fsyncDir, writeFileAtomic } from './files.js';
import { payloadChainPems } from './payload-cross-cert.js';

/** The active publisher: certificate, key, and the intermediates that lead to its root. */
export interface PublisherPem extends KeyPairPem {
  chainPems: string[];
  /**
   * What a payload CMS signature carries after the signer, when it differs from chainPems: the
   * organization's intermediates and the site CA's cross-certificate of its anchor
   * (./payload-cross-cert.ts), so agents that pinned the site CA accept the signatures.
   */
  cmsChainPems?: string[];
}

export interface PublisherInfo {
  source: 'site' | 'imported';
  subject: string;
  issuer: string;
  /** SHA-1 of the DER, upper-case hex: what Windows shows as the thumbprint. */
  thumbprintSha1: string;
  serialNumber: string;
  notBefore: string;
  notAfter: string;
  keyBits: number;
  daysLeft: number;
  /** Set when the certificate expires within WARN_DAYS. */
  warning?: string;
}

export type PublisherSource =
  | { pfx: Buffer; password: string }
  | { certificatePem: string; privateKeyPem: string; chainPem?: string };

const WARN_DAYS = 30;
const DAY_MS = 24 * 60 * 60 * 1000;
const CODE_SIGNING = '1.3.6.1.5.5.7.3.3';
const MIN_RSA_BITS = 2048;
const MAX_INPUT_BYTES = 1024 * 1024;

function importedDir(signingDir: string): string {
  return path.join(signingDir, 'pki', 'imported');
}

function importedPaths(dir: string) {
  return {
    cert: path.join(dir, 'publisher.pem'),
    key: path.join(dir, 'publisher.key.pem'),
    chain: path.join(dir, 'chain.pem'),
    cmsChain: path.join(dir, 'cms-chain.pem'),
  };
}

/** Checks and installs an organization's publisher certificate; returns what is now active. */
export async function importPublisher(
  signingDir: string,
  source: PublisherSource,
  now: Date = new Date(),
): Promise<PublisherInfo> {
  const pem = 'pfx' in source ? fromPfx(source.pfx, source.password) : fromPem(source);
  checkPublisher(pem, now);
  // The site CA endorses the organization's chain for payload signatures (refused, with nothing
  // written, when the chain does not hold the certificate's issuer).
  pem.cmsChainPems = payloadChainPems(pem, await loadCa(signingDir), now);
  await install(signingDir, pem);
  return describePublisher(pem, 'imported', now);
}

/** The publisher that signs: the imported one when there is one, else the site CA's. */
export async function loadActivePublisher(signingDir: string): Promise<PublisherPem> {
  const files = importedPaths(importedDir(signingDir));
  try {
    const [certificatePem, privateKeyPem, chain] = await Promise.all([
      readFile(files.cert, 'utf8'),
      readFile(files.key, 'utf8'),
      readFile(files.chain, 'utf8'),
    ]);
    const cmsChain = await readFile(files.cmsChain, 'utf8').catch((err: unknown) => {
      // Imported before cross-certification existed: signatures carry chain.pem as they did.
      if (errnoCode(err) === 'ENOENT') return undefined;
      throw err;
    });
    const publisher: PublisherPem = { certificatePem, privateKeyPem, chainPems: splitPem(chain) };
    if (cmsChain !== undefined) publisher.cmsChainPems = splitPem(cmsChain);
    return publisher;
  } catch (err) {
    if (errnoCode(err) !== 'ENOENT') throw err;
  }
  return { ...(await loadPublisher(signingDir)), chainPems: [] };
}

/** Public facts of the active publisher (no key material), or undefined before `upcat init`. */
export async function activePublisherInfo(
  signingDir: string,
  now: Date = new Date(),
): Promise<PublisherInfo | undefined> {
  const imported = await stat(importedDir(signingDir)).then(
    () => true,
    () => false,
  );
  let pem: PublisherPem;
  try {
    pem = await loadActivePublisher(signingDir);
  } catch (err) {
    if (err instanceof UpcatError && err.code === 'not_found') return undefined;
    throw err;
  }
  return describePublisher(pem, imported ? 'imported' : 'site', now);
}

export function describePublisher(
  pem: KeyPairPem,
  source: PublisherInfo['source'],
  now: Date = new Date(),
): PublisherInfo {
  const cert = new X509Certificate(pem.certificatePem);
  const notAfter = new Date(cert.validTo);
  const daysLeft = Math.floor((notAfter.getTime() - now.getTime()) / DAY_MS);
  const info: PublisherInfo = {
    source,
    subject: oneLine(cert.subject),
    issuer: oneLine(cert.issuer),
    thumbprintSha1: cert.fingerprint.replace(/:/g, '').toUpperCase(),
    serialNumber: cert.serialNumber,
    notBefore: new Date(cert.validFrom).toISOString(),
    notAfter: notAfter.toISOString(),
    keyBits: cert.publicKey.asymmetricKeyDetails?.modulusLength ?? 0,
    daysLeft,
  };
  if (daysLeft < 0) {
    info.warning = `the publisher certificate expired on ${info.notAfter}; import a new one with "upcat keys import-publisher"`;
  } else if (daysLeft < WARN_DAYS) {
    info.warning = `the publisher certificate expires in ${daysLeft} day(s), on ${info.notAfter}; import its successor with "upcat keys import-publisher"`;
  }
  return info;
}

function fromPfx(pfx: Buffer, password: string): PublisherPem {
  if (pfx.length > MAX_INPUT_BYTES) throw invalidInput('PFX: larger than 1 MiB');
  let p12: forge.pkcs12.Pkcs12Pfx;
  try {
    p12 = forge.pkcs12.pkcs12FromAsn1(
      forge.asn1.fromDer(forge.util.createBuffer(pfx.toString('binary'))),
      false,
      password,
    );
  } catch (err) {
    const message = err instanceof Error ? err.message : '';
    throw invalidInput(
      /password|MAC/i.test(message)
        ? "PFX: the password is wrong (the file's integrity check does not verify with it)"
        : 'PFX: not a PKCS#12 file that can be read',
    );
  }
  const bagsOf = (type: string) => p12.getBags({ bagType: type })[type] ?? [];
  const keyBags = [...bagsOf(forge.pki.oids.pkcs8ShroudedKeyBag), ...bagsOf(forge.pki.oids.keyBag)];
  const certBags = bagsOf(forge.pki.oids.certBag);
  if (keyBags.length !== 1) {
    throw invalidInput(`PFX: holds ${keyBags.length} private keys; exactly one is needed`);
  }
  // forge leaves `key` null for a key type it cannot read (ECDSA) and keeps the PKCS#8 ASN.1.
  const keyBag = keyBags[0] as forge.pkcs12.Bag & { asn1?: forge.asn1.Asn1 };
  const keyDer =
    keyBag.key !== undefined && keyBag.key !== null
      ? forge.pki.wrapRsaPrivateKey(forge.pki.privateKeyToAsn1(keyBag.key))
      : keyBag.asn1;
  if (keyDer === undefined) throw invalidInput('PFX: its private key cannot be read');
  const privateKeyPem = createPrivateKey({
    key: Buffer.from(forge.asn1.toDer(keyDer).getBytes(), 'binary'),
    format: 'der',
    type: 'pkcs8',
  })
    .export({ format: 'pem', type: 'pkcs8' })
    .toString();
  const certs = certBags.map((b) => {
    const bag = b as forge.pkcs12.Bag & { asn1?: forge.asn1.Asn1 };
    const asn1 = bag.cert ? forge.pki.certificateToAsn1(bag.cert) : bag.asn1;
    if (asn1 === undefined) throw invalidInput('PFX: a certificate in it cannot be read');
    return new X509Certificate(Buffer.from(forge.asn1.toDer(asn1).getBytes(), 'binary'));
  });
  const key = createPrivateKey(privateKeyPem);
  const leaf = certs.find((c) => c.checkPrivateKey(key));
  if (leaf === undefined) {
    throw invalidInput('PFX: no certificate in it matches its private key');
  }
  return {
    certificatePem: leaf.toString(),
    privateKeyPem,
    chainPems: certs.filter((c) => c !== leaf).map((c) => c.toString()),
  };
}

function fromPem(source: Extract<PublisherSource, { certificatePem: string }>): PublisherPem {
  const certs = splitPem(source.certificatePem);
  const first = certs[0];
  if (first === undefined) throw invalidInput('--cert: no PEM certificate in the file');
  let privateKeyPem: string;
  try {
    privateKeyPem = createPrivateKey(source.privateKeyPem)
      .export({ format: 'pem', type: 'pkcs8' })
      .toString();
  } catch {
    throw invalidInput('--key: not an unencrypted PEM private key');
  }
  const chain = [...certs.slice(1), ...splitPem(source.chainPem ?? '')];
  for (const c of [first, ...chain]) {
    try {
      new X509Certificate(c);
    } catch {
      throw invalidInput('--cert/--chain: a PEM block is not an X.509 certificate');
    }
  }
  return { certificatePem: first, privateKeyPem, chainPems: chain };
}

/** Every check of the module comment, each refusal one line naming the problem. */
export function checkPublisher(pem: PublisherPem, now: Date): void {
  const cert = new X509Certificate(pem.certificatePem);
  const key = createPrivateKey(pem.privateKeyPem);
  const name = oneLine(cert.subject);
  checkKey(key);
  if (!sameKey(cert.publicKey, key)) {
    throw invalidInput(`the private key does not match the certificate (${name})`);
  }
  if (now > new Date(cert.validTo)) {
    throw invalidInput(
      `the certificate (${name}) expired on ${new Date(cert.validTo).toISOString()}`,
    );
  }
  if (now < new Date(cert.validFrom)) {
    throw invalidInput(
      `the certificate (${name}) is not valid yet (from ${new Date(cert.validFrom).toISOString()})`,
    );
  }
  if (cert.ca) throw invalidInput(`the certificate (${name}) is a CA certificate, not a publisher`);
  const usages: readonly string[] | undefined = cert.keyUsage;
  if (usages?.includes(CODE_SIGNING) !== true) {
    throw invalidInput(
      `the certificate (${name}) has no codeSigning extended key usage (${CODE_SIGNING}); ask the PKI for a code-signing certificate`,
    );
  }
  const keyUsage = forge.pki.certificateFromPem(pem.certificatePem).getExtension('keyUsage') as {
    digitalSignature?: boolean;
  } | null;
  if (keyUsage !== null && keyUsage.digitalSignature !== true) {
    throw invalidInput(`the certificate (${name}) keyUsage does not allow digitalSignature`);
  }
  checkChain(cert, pem.chainPems);
}

function checkKey(key: KeyObject): void {
  const type = key.asymmetricKeyType;
  if (type === 'ec') {
    throw invalidInput(
      'the key is ECDSA: not supported, because node-forge (which makes the CMS and Authenticode signatures) signs RSA only; ask the PKI for an RSA key of 2048 bits or more',
    );
  }
  if (type !== 'rsa') {
    throw invalidInput(
      `the key type ${type ?? 'unknown'} is not supported; an RSA key of 2048 bits or more is`,
    );
  }
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < MIN_RSA_BITS) {
    throw invalidInput(`the RSA key has ${bits} bits; at least ${MIN_RSA_BITS} are needed`);
  }
}

function sameKey(certKey: KeyObject, privateKey: KeyObject): boolean {
  const der = (k: KeyObject) => k.export({ format: 'der', type: 'spki' });
  return der(certKey).equals(der(createPublicKey(privateKey)));
}

/** A chain given must hold the issuer; without one the certificate must say who its issuer is. */
function checkChain(cert: X509Certificate, chainPems: readonly string[]): void {
  if (chainPems.length === 0) return;
  const chain = chainPems.map((c) => new X509Certificate(c));
  if (!chain.some((c) => cert.checkIssued(c) && cert.verify(c.publicKey))) {
    throw invalidInput(
      `the chain does not hold the issuer of the certificate (${oneLine(cert.issuer)})`,
    );
  }
}

/**
 * Writes the three files into a new directory, then points the `imported` symlink at it with
 * one rename, so a reader sees the old publisher or the new one, never a mix or neither.
 */
async function install(signingDir: string, pem: PublisherPem): Promise<void> {
  const link = importedDir(signingDir);
  const pki = path.dirname(link);
  await mkdir(pki, { recursive: true, mode: 0o700 });
  const name = `imported-${randomBytes(6).toString('hex')}`;
  const dir = path.join(pki, name);
  await mkdir(dir, { mode: 0o700 });
  const tmpLink = path.join(pki, `.${name}.link`);
  try {
    const files = importedPaths(dir);
    await writeFileAtomic(files.key, pem.privateKeyPem, { mode: 0o600 });
    await chmod(files.key, 0o600);
    await writeFileAtomic(files.chain, pem.chainPems.join(''), { mode: 0o644 });
    if (pem.cmsChainPems !== undefined) {
      await writeFileAtomic(files.cmsChain, pem.cmsChainPems.join(''), { mode: 0o644 });
    }
    await writeFileAtomic(files.cert, pem.certificatePem, { mode: 0o644 });
    const previous = await readlink(link).catch((err: unknown) => {
      if (errnoCode(err) === 'ENOENT') return undefined;
      throw err;
    });
    await symlink(name, tmpLink);
    await rename(tmpLink, link);
    await fsyncDir(pki);
    if (previous !== undefined && !path.isAbsolute(previous) && previous.startsWith('imported-')) {
      await rm(path.join(pki, previous), { recursive: true, force: true });
    }
  } catch (err) {
    await rm(tmpLink, { force: true });
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

function splitPem(text: string): string[] {
  return (text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? []).map(
    (block) => `${block}\n`,
  );
}

function oneLine(name: string): string {
  return name.split('\n').join(', ');
}
