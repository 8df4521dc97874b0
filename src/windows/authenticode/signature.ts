import { createHash, sign as cryptoSign } from 'node:crypto';
import {
  TAG,
  algorithm,
  bytesOf,
  context,
  derOf,
  expectTlv,
  integer,
  octets,
  oid,
  raw,
  seq,
  set,
  utcTime,
  type Asn1,
} from './der.js';
import { OID, SHA256 } from './oids.js';
import { issuerAndSerialOf } from './parse.js';
import type { PreparedSigner } from './signer.js';

/**
 * The PKCS#7 SignedData of an Authenticode signature, as osslsigncode 2.x writes it
 * (research/interop.md §4.2; Authenticode PE format §"SignedData"):
 *
 * ContentInfo { signedData, [0] SignedData {
 *   version 1, digestAlgorithms { sha256 },
 *   contentInfo { SPC_INDIRECT_DATA, [0] SpcIndirectDataContent { data, messageDigest } },
 *   certificates [0] { publisher, chain... },
 *   signerInfos { SignerInfo { 1, issuerAndSerial, sha256, [0] signed attributes, rsaEncryption, sig } } } }
 *
 * Signed attributes: contentType, signingTime, SpcStatementType (individual code signing),
 * messageDigest = SHA-256 of the SpcIndirectDataContent *contents* (RFC 2315 §9.3: without its
 * tag and length). node-forge's pkcs7 API cannot encode SpcStatementType, so the SignerInfo is
 * composed from forge.asn1 nodes, and the signature covers the DER of the attributes as a SET OF.
 */
export interface IndirectData {
  /** SpcAttributeTypeAndOptionalValue: the type (SPC_CAB_DATA...) and its DER value. */
  dataType: string;
  dataValue: Asn1;
  /** The file's Authenticode digest (SHA-256). */
  digest: Uint8Array;
}

export function buildSignature(
  content: IndirectData,
  signer: PreparedSigner,
  signingTime: Date = new Date(),
): Buffer {
  const indirect = seq([
    seq([oid(content.dataType), content.dataValue]),
    seq([algorithm(SHA256), octets(content.digest)]),
  ]);
  const indirectDer = derOf(indirect);
  const idcContents = bytesOf(indirectDer, expectTlv(indirectDer, 0, TAG.sequence, 'idc'), false);
  const attrs = signedAttributes(createHash('sha256').update(idcContents).digest(), signingTime);
  // RFC 2315 §9.3: the signature covers the attributes' DER with the SET OF tag (0x31).
  const signatureValue = cryptoSign('sha256', derOf(set(attrs)), signer.key);
  const signerInfo = seq([
    integer(1),
    issuerAndSerial(signer.certificate.raw),
    algorithm(SHA256),
    context(0, true, attrs),
    algorithm(OID.rsaEncryption),
    octets(signatureValue),
  ]);
  // certificates is a SET OF: DER order (X.690 §11.6), as OpenSSL writes it.
  const certificates = [signer.certificate, ...signer.chain]
    .map((c) => c.raw)
    .sort(Buffer.compare)
    .map(raw);
  const signedData = seq([
    integer(1),
    set([algorithm(SHA256)]),
    seq([oid(OID.spcIndirectData), context(0, true, [indirect])]),
    context(0, true, certificates),
    set([signerInfo]),
  ]);
  return derOf(seq([oid(OID.signedData), context(0, true, [signedData])]));
}

/** SpcLink ::= CHOICE { file [2] EXPLICIT SpcString } with SpcString unicode [0] IMPLICIT BMPString. */
export function obsoleteLink(): Asn1 {
  const text = Buffer.from('<<<Obsolete>>>', 'utf16le').swap16();
  return context(2, true, [context(0, false, text.toString('binary'))]);
}

/** osslsigncode's default set, sorted by DER as a SET OF requires (X.690 §11.6). */
function signedAttributes(idcDigest: Buffer, signingTime: Date): Asn1[] {
  const attrs = [
    attribute(OID.contentType, oid(OID.spcIndirectData)),
    attribute(OID.signingTime, utcTime(signingTime)),
    attribute(OID.spcStatementType, seq([oid(OID.spcIndividualCodeSigning)])),
    attribute(OID.messageDigest, octets(idcDigest)),
  ];
  return attrs
    .map((a) => ({ a, der: derOf(a) }))
    .sort((x, y) => Buffer.compare(x.der, y.der))
    .map(({ a }) => a);
}

function attribute(type: string, value: Asn1): Asn1 {
  return seq([oid(type), set([value])]);
}

/** RFC 2315 §9.2: the certificate's own issuer Name and serialNumber bytes. */
function issuerAndSerial(certificateDer: Buffer): Asn1 {
  const { issuer, serial } = issuerAndSerialOf(certificateDer);
  return seq([raw(issuer), raw(serial)]);
}
