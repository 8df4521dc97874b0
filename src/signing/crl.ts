import { sign } from 'node:crypto';
import forge from 'node-forge';
import type { KeyPairPem } from './ca.js';

/**
 * An X.509 v2 certificate revocation list (RFC 5280 §5) signed by the site CA. node-forge has
 * no CRL builder, so the ASN.1 is assembled here with forge.asn1 and signed with Node's crypto
 * (sha256WithRSAEncryption, the CA's key type).
 */
export interface RevokedEntry {
  /** Hex serial number as the certificate carries it. */
  serial: string;
  revokedAt: Date;
}

export interface CrlOptions {
  thisUpdate: Date;
  nextUpdate: Date;
  /** Monotonic CRL number (RFC 5280 §5.2.3). */
  crlNumber: number;
}

const { asn1 } = forge;
const OID_SHA256_RSA = forge.pki.oids['sha256WithRSAEncryption'] as string;
const OID_AUTHORITY_KEY_ID = '2.5.29.35';
const OID_CRL_NUMBER = '2.5.29.20';

/** The CRL in DER. */
export function buildCrl(
  ca: KeyPairPem,
  revoked: readonly RevokedEntry[],
  opts: CrlOptions,
): Buffer {
  const caCert = forge.pki.certificateFromPem(ca.certificatePem);
  const tbs = seq([
    integer(intBytes(1)), // v2
    algorithm(),
    forge.pki.distinguishedNameToAsn1(caCert.subject),
    time(opts.thisUpdate),
    time(opts.nextUpdate),
    ...(revoked.length === 0
      ? [] // RFC 5280: the list is absent, not empty, when nothing is revoked
      : [seq(revoked.map((r) => seq([integer(hexBytes(r.serial)), time(r.revokedAt)])))]),
    asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, true, [
      seq([
        extension(
          OID_AUTHORITY_KEY_ID,
          seq([
            asn1.create(
              asn1.Class.CONTEXT_SPECIFIC,
              0,
              false,
              caCert.generateSubjectKeyIdentifier().getBytes(),
            ),
          ]),
        ),
        extension(OID_CRL_NUMBER, integer(intBytes(opts.crlNumber))),
      ]),
    ]),
  ]);
  const tbsDer = Buffer.from(asn1.toDer(tbs).getBytes(), 'binary');
  const signature = sign('sha256', tbsDer, ca.privateKeyPem);
  const crl = seq([
    tbs,
    algorithm(),
    asn1.create(
      asn1.Class.UNIVERSAL,
      asn1.Type.BITSTRING,
      false,
      `\x00${signature.toString('binary')}`,
    ),
  ]);
  return Buffer.from(asn1.toDer(crl).getBytes(), 'binary');
}

export function crlToPem(der: Buffer): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN X509 CRL-----\n${lines.join('\n')}\n-----END X509 CRL-----\n`;
}

function seq(items: forge.asn1.Asn1[]): forge.asn1.Asn1 {
  return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, items);
}

function integer(bytes: string): forge.asn1.Asn1 {
  return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.INTEGER, false, bytes);
}

function algorithm(): forge.asn1.Asn1 {
  return seq([
    asn1.create(
      asn1.Class.UNIVERSAL,
      asn1.Type.OID,
      false,
      asn1.oidToDer(OID_SHA256_RSA).getBytes(),
    ),
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.NULL, false, ''),
  ]);
}

function extension(oid: string, value: forge.asn1.Asn1): forge.asn1.Asn1 {
  return seq([
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OID, false, asn1.oidToDer(oid).getBytes()),
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OCTETSTRING, false, asn1.toDer(value).getBytes()),
  ]);
}

/** UTCTime through 2049, GeneralizedTime after (RFC 5280 §5.1.2.4). */
function time(date: Date): forge.asn1.Asn1 {
  return date.getUTCFullYear() < 2050
    ? asn1.create(asn1.Class.UNIVERSAL, asn1.Type.UTCTIME, false, asn1.dateToUtcTime(date))
    : asn1.create(
        asn1.Class.UNIVERSAL,
        asn1.Type.GENERALIZEDTIME,
        false,
        asn1.dateToGeneralizedTime(date),
      );
}

/** A positive DER INTEGER from hex: a leading 0x00 when the top bit is set. */
function hexBytes(hex: string): string {
  const even = hex.length % 2 === 1 ? `0${hex}` : hex;
  const bytes = Buffer.from(even, 'hex');
  const positive = (bytes[0] ?? 0) >= 0x80 ? Buffer.concat([Buffer.from([0]), bytes]) : bytes;
  return positive.toString('binary');
}

function intBytes(n: number): string {
  return hexBytes(n.toString(16));
}
