import { createHash, sign as cryptoSign } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import forge from 'node-forge';
import { UpcatError } from '../errors.js';
import type { KeyPairPem } from './ca.js';

/**
 * Detached CMS signatures of payloads (RFC 5652 SignedData, DESIGN.md §3), verifiable with
 * `openssl cms -verify -binary -inform DER -content <payload> -CAfile ca.pem -purpose any`.
 *
 * The payload is streamed once through SHA-256 here; only the digest goes into the signed
 * attributes (RFC 5652 §5.4, message-digest), so a 1 GiB payload is never held in memory.
 * node-forge's pkcs7 signer would digest the whole content itself, so the SignedData is composed
 * from forge's ASN.1 primitives instead.
 */
const OID = {
  data: '1.2.840.113549.1.7.1',
  signedData: '1.2.840.113549.1.7.2',
  contentType: '1.2.840.113549.1.9.3',
  messageDigest: '1.2.840.113549.1.9.4',
  signingTime: '1.2.840.113549.1.9.5',
  sha256: '2.16.840.1.101.3.4.2.1',
  rsaEncryption: '1.2.840.113549.1.1.1',
} as const;

/** Signs a payload streamed from `source`; returns the DER-encoded ContentInfo (a .p7s file). */
export async function signDetached(
  source: Readable | AsyncIterable<Uint8Array>,
  publisher: KeyPairPem,
  options: { signingTime?: Date } = {},
): Promise<Buffer> {
  const hash = createHash('sha256');
  for await (const chunk of source) hash.update(chunk);
  return signDigest(hash.digest(), publisher, options);
}

export async function signFile(
  file: string,
  publisher: KeyPairPem,
  options: { signingTime?: Date } = {},
): Promise<Buffer> {
  return signDetached(createReadStream(file, { highWaterMark: 1024 * 1024 }), publisher, options);
}

/** The CMS signature of content whose SHA-256 is `sha256` (for callers that already hashed it). */
export function signDigest(
  sha256: Uint8Array,
  publisher: KeyPairPem & { chainPems?: readonly string[]; cmsChainPems?: readonly string[] },
  options: { signingTime?: Date } = {},
): Buffer {
  if (sha256.length !== 32) throw new UpcatError('invalid_input', 'a SHA-256 digest is 32 bytes');
  const certAsn1 = forge.pki.certificateToAsn1(
    forge.pki.certificateFromPem(publisher.certificatePem),
  );
  const attrs = signedAttributes(sha256, options.signingTime ?? new Date());
  // RFC 5652 §5.4: the signature covers the DER of the attributes as a SET OF (tag 0x31).
  const signature = cryptoSign('sha256', derOf(set(attrs)), publisher.privateKeyPem);
  const signerInfo = seq([
    int(1),
    issuerAndSerial(certAsn1),
    algorithm(OID.sha256),
    // In SignerInfo the same attributes are tagged [0] IMPLICIT.
    asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, true, attrs),
    algorithm(OID.rsaEncryption),
    octets(signature),
  ]);
  const signedData = seq([
    int(1),
    set([algorithm(OID.sha256)]),
    // Detached: encapContentInfo names the content type and carries no content (§5.2).
    seq([oid(OID.data)]),
    // The signer's certificate, then its intermediates (an imported organization publisher).
    asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, true, [certAsn1, ...chainAsn1(publisher)]),
    set([signerInfo]),
  ]);
  const contentInfo = seq([
    oid(OID.signedData),
    asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, true, [signedData]),
  ]);
  return derOf(contentInfo);
}

type Asn1 = forge.asn1.Asn1;
const asn1 = forge.asn1;

function chainAsn1(
  publisher: KeyPairPem & { chainPems?: readonly string[]; cmsChainPems?: readonly string[] },
): Asn1[] {
  // An imported publisher's payload chain ends in the site CA's cross-certificate of the
  // organization's anchor (payload-cross-cert.ts), which is what agents verify against.
  return (publisher.cmsChainPems ?? publisher.chainPems ?? []).map((pem) =>
    forge.asn1.fromDer(
      forge.util.createBuffer(
        Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64').toString('binary'),
      ),
    ),
  );
}

/** contentType, signingTime, messageDigest, sorted by their DER as a SET OF requires (X.690 §11.6). */
function signedAttributes(sha256: Uint8Array, signingTime: Date): Asn1[] {
  const attrs = [
    attribute(OID.contentType, oid(OID.data)),
    attribute(
      OID.signingTime,
      asn1.create(asn1.Class.UNIVERSAL, asn1.Type.UTCTIME, false, asn1.dateToUtcTime(signingTime)),
    ),
    attribute(OID.messageDigest, octets(sha256)),
  ];
  return attrs
    .map((a) => ({ a, der: derOf(a) }))
    .sort((x, y) => Buffer.compare(x.der, y.der))
    .map(({ a }) => a);
}

/** RFC 5652 §10.2.4: the certificate's issuer Name and serial, copied from its own encoding. */
function issuerAndSerial(certAsn1: Asn1): Asn1 {
  const tbs = (certAsn1.value as Asn1[])[0];
  const fields = (tbs?.value ?? []) as Asn1[];
  // TBSCertificate: [0] version, serialNumber, signature, issuer, ...
  const serial = fields[1];
  const issuer = fields[3];
  if (serial === undefined || issuer === undefined) {
    throw new UpcatError('invalid_config', 'publisher certificate is not an X.509 v3 certificate');
  }
  return seq([issuer, serial]);
}

function attribute(type: string, value: Asn1): Asn1 {
  return seq([oid(type), set([value])]);
}

function algorithm(id: string): Asn1 {
  return seq([oid(id), asn1.create(asn1.Class.UNIVERSAL, asn1.Type.NULL, false, '')]);
}

function seq(value: Asn1[]): Asn1 {
  return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, value);
}

function set(value: Asn1[]): Asn1 {
  return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SET, true, value);
}

function oid(id: string): Asn1 {
  return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OID, false, asn1.oidToDer(id).getBytes());
}

function int(n: number): Asn1 {
  return asn1.create(
    asn1.Class.UNIVERSAL,
    asn1.Type.INTEGER,
    false,
    asn1.integerToDer(n).getBytes(),
  );
}

function octets(bytes: Uint8Array): Asn1 {
  return asn1.create(
    asn1.Class.UNIVERSAL,
    asn1.Type.OCTETSTRING,
    false,
    Buffer.from(bytes).toString('binary'),
  );
}

function derOf(node: Asn1): Buffer {
  return Buffer.from(asn1.toDer(node).getBytes(), 'binary');
}
