/**
 * Payload signatures by an imported organization publisher, trusted by endpoints that pinned
 * the site CA (issue 11 item 7; docs/AGENT.md "Trust").
 *
 * Agents and `upcat verify` accept a payload's CMS signature only when its signer chains to the
 * site CA they pinned. After `upcat keys import-publisher` the signer is the organization's
 * code-signing certificate, issued under the organization's root, so the site CA cross-certifies
 * the top of that chain once, at import (RFC 5280 §3.2, cross-certificates; §6.1 path
 * validation): a CA certificate with the organization anchor's subject, key and key identifier,
 * issued by the site CA. The payload SignedData carries the publisher's intermediates and that
 * cross-certificate, so a verifier holding only the site CA builds
 *     publisher -> intermediates -> cross-certificate (org anchor) -> site CA
 * and a verifier holding the organization's root still builds the organization's own path
 * (the self-signed root is not carried, so there is one candidate issuer at every step).
 *
 * Why a cross-certificate and not a second trust anchor sent to endpoints: the endorsement is
 * signed by the key every endpoint already trusts, travels inside each signature, needs no new
 * channel a mirror or a man in the middle could add anchors to, and an agent pinned before the
 * import accepts the new signatures with no manual step. It is narrowed to what payloads need:
 * extendedKeyUsage codeSigning only (so OpenSSL-based TLS refuses it for serverAuth/clientAuth),
 * pathLenConstraint = the number of intermediates the publisher's chain has, keyUsage
 * keyCertSign, and it expires with the publisher certificate (or the site CA, if sooner).
 */
import { createHash, randomBytes, sign, X509Certificate } from 'node:crypto';
import forge from 'node-forge';
import { invalidInput } from '../errors.js';
import type { KeyPairPem } from './ca.js';

type Asn1 = forge.asn1.Asn1;
const asn1 = forge.asn1;

const OID = {
  sha256WithRsa: '1.2.840.113549.1.1.11',
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  subjectKeyIdentifier: '2.5.29.14',
  authorityKeyIdentifier: '2.5.29.35',
  codeSigning: '1.3.6.1.5.5.7.3.3',
} as const;

/** Longer organization chains than this are not followed (real ones have one or two CAs). */
const MAX_CHAIN = 6;

/**
 * The certificates a payload CMS signature by `publisher` carries after the signer itself: the
 * organization's intermediates and the site CA's cross-certificate of the topmost CA the chain
 * holds. Empty when the publisher was issued by the site CA (agents trust it directly).
 */
export function payloadChainPems(
  publisher: { certificatePem: string; chainPems: readonly string[] },
  siteCa: KeyPairPem,
  now: Date = new Date(),
): string[] {
  const ca = new X509Certificate(siteCa.certificatePem);
  const leaf = new X509Certificate(publisher.certificatePem);
  if (issuedBy(leaf, ca)) return [];
  const pool = publisher.chainPems.map((pem) => new X509Certificate(pem));
  const chain: X509Certificate[] = [];
  let current = leaf;
  while (chain.length < MAX_CHAIN) {
    const issuer = pool.find((c) => !chain.includes(c) && c !== current && issuedBy(current, c));
    if (issuer === undefined) break;
    if (!issuer.ca) {
      throw invalidInput(
        `the chain certificate ${oneLine(issuer.subject)} is not a CA certificate (basicConstraints)`,
      );
    }
    chain.push(issuer);
    if (issuedBy(issuer, ca) || issuedBy(issuer, issuer)) break;
    current = issuer;
  }
  const anchor = chain[chain.length - 1];
  if (anchor === undefined) {
    throw invalidInput(
      `give the certificate of its issuer (${oneLine(leaf.issuer)}) with --chain or in the PFX: ` +
        'the site CA cross-certifies it so that agents which pinned the site CA accept the signatures',
    );
  }
  const below = chain.slice(0, -1).map((c) => c.toString());
  if (issuedBy(anchor, ca)) return [...below, anchor.toString()];
  const notAfter = Math.min(Date.parse(leaf.validTo), Date.parse(ca.validTo));
  const cross = crossCertificate(anchor, siteCa, {
    pathLen: chain.length - 1,
    notBefore: new Date(now.getTime() - 5 * 60 * 1000),
    notAfter: new Date(notAfter),
  });
  return [...below, cross];
}

function issuedBy(child: X509Certificate, parent: X509Certificate): boolean {
  return child.checkIssued(parent) && child.verify(parent.publicKey);
}

/**
 * A CA certificate (RFC 5280 §4.1) for `anchor`'s subject and key, issued by the site CA. The
 * subject, SubjectPublicKeyInfo and subjectKeyIdentifier are copied as encoded, so a certificate
 * the anchor issued (its issuer name and authorityKeyIdentifier) matches this one exactly; the
 * anchor's key type does not matter (it is only carried, not used).
 */
function crossCertificate(
  anchor: X509Certificate,
  siteCa: KeyPairPem,
  options: { pathLen: number; notBefore: Date; notAfter: Date },
): string {
  const org = tbsFields(anchor.raw);
  const ca = tbsFields(new X509Certificate(siteCa.certificatePem).raw);
  const serial = randomBytes(16);
  serial[0] = ((serial[0] ?? 0) & 0x3f) | 0x40; // positive, minimally encoded (as ca.ts)
  const extensions: Asn1[] = [
    extension(OID.basicConstraints, true, seq([boolean(true), int(options.pathLen)])),
    // keyCertSign is bit 5: one byte 0000 0100 with two unused trailing bits (X.690 §11.2.2).
    extension(OID.keyUsage, true, prim(asn1.Type.BITSTRING, '\x02\x04')),
    extension(OID.extKeyUsage, false, seq([oid(OID.codeSigning)])),
    extension(
      OID.subjectKeyIdentifier,
      false,
      org.ski ?? prim(asn1.Type.OCTETSTRING, keyIdOf(org.spki)),
    ),
  ];
  const caKeyId = ca.ski?.value;
  if (typeof caKeyId === 'string') {
    // authorityKeyIdentifier: SEQUENCE { [0] IMPLICIT KeyIdentifier } (§4.2.1.1)
    extensions.push(extension(OID.authorityKeyIdentifier, false, seq([ctx(0, false, caKeyId)])));
  }
  const tbs = seq([
    ctx(0, true, [int(2)]),
    prim(asn1.Type.INTEGER, serial.toString('binary')),
    algorithm(),
    ca.subject,
    seq([time(options.notBefore), time(options.notAfter)]),
    org.subject,
    org.spki,
    ctx(3, true, [seq(extensions)]),
  ]);
  const tbsDer = derOf(tbs);
  const signature = sign('sha256', tbsDer, siteCa.privateKeyPem);
  const cert = seq([
    tbs,
    algorithm(),
    prim(asn1.Type.BITSTRING, `\x00${signature.toString('binary')}`),
  ]);
  return new X509Certificate(derOf(cert)).toString();
}

/** The parts of a TBSCertificate copied into the cross-certificate, as parsed ASN.1. */
function tbsFields(der: Buffer): { subject: Asn1; spki: Asn1; ski: Asn1 | undefined } {
  // forge keeps a decoded BIT STRING's original bytes and re-encodes them as they were.
  const cert = asn1.fromDer(forge.util.createBuffer(der.toString('binary')));
  const tbs = children(children(cert)[0]);
  const offset = tbs[0]?.tagClass === asn1.Class.CONTEXT_SPECIFIC ? 1 : 0;
  const subject = tbs[offset + 4];
  const spki = tbs[offset + 5];
  if (subject === undefined || spki === undefined) {
    throw invalidInput('a chain certificate is not an X.509 certificate that can be read');
  }
  const exts = tbs.find((n) => n.tagClass === asn1.Class.CONTEXT_SPECIFIC && n.type === 3);
  let ski: Asn1 | undefined;
  for (const ext of children(children(exts)[0])) {
    const parts = children(ext);
    if (oidOf(parts[0]) !== OID.subjectKeyIdentifier) continue;
    const value = parts[parts.length - 1]?.value;
    if (typeof value === 'string') ski = asn1.fromDer(forge.util.createBuffer(value));
  }
  return { subject, spki, ski };
}

/** RFC 5280 §4.2.1.2 method (1): SHA-1 of the subjectPublicKey BIT STRING's bits. */
function keyIdOf(spki: Asn1): string {
  const node = children(spki)[1] as (Asn1 & { bitStringContents?: string }) | undefined;
  const bits = (node?.bitStringContents ?? String(node?.value ?? '')).slice(1);
  return createHash('sha1').update(Buffer.from(bits, 'binary')).digest().toString('binary');
}

function extension(id: string, critical: boolean, value: Asn1): Asn1 {
  const parts = [oid(id)];
  if (critical) parts.push(boolean(true));
  parts.push(prim(asn1.Type.OCTETSTRING, asn1.toDer(value).getBytes()));
  return seq(parts);
}

/** §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050. */
function time(date: Date): Asn1 {
  return date.getUTCFullYear() < 2050
    ? prim(asn1.Type.UTCTIME, asn1.dateToUtcTime(date))
    : prim(asn1.Type.GENERALIZEDTIME, asn1.dateToGeneralizedTime(date));
}

function algorithm(): Asn1 {
  return seq([oid(OID.sha256WithRsa), prim(asn1.Type.NULL, '')]);
}

function seq(value: Asn1[]): Asn1 {
  return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, value);
}

function prim(type: number, value: string): Asn1 {
  return asn1.create(asn1.Class.UNIVERSAL, type, false, value);
}

function ctx(tag: number, constructed: boolean, value: Asn1[] | string): Asn1 {
  return asn1.create(asn1.Class.CONTEXT_SPECIFIC, tag, constructed, value);
}

function oid(id: string): Asn1 {
  return prim(asn1.Type.OID, asn1.oidToDer(id).getBytes());
}

function boolean(value: boolean): Asn1 {
  return prim(asn1.Type.BOOLEAN, value ? '\xff' : '\x00');
}

function int(n: number): Asn1 {
  return prim(asn1.Type.INTEGER, asn1.integerToDer(n).getBytes());
}

function children(node: Asn1 | undefined): Asn1[] {
  return node !== undefined && Array.isArray(node.value) ? (node.value as Asn1[]) : [];
}

function oidOf(node: Asn1 | undefined): string | undefined {
  if (node?.type !== asn1.Type.OID || typeof node.value !== 'string') return undefined;
  return asn1.derToOid(forge.util.createBuffer(node.value));
}

function derOf(node: Asn1): Buffer {
  return Buffer.from(asn1.toDer(node).getBytes(), 'binary');
}

function oneLine(name: string): string {
  return name.split('\n').join(', ');
}
