import forge from 'node-forge';
import { UpcatError } from '../../errors.js';

/**
 * DER for Authenticode: building with node-forge's ASN.1 nodes, reading with a bounded TLV walker
 * that keeps byte offsets. Verification needs the exact received bytes of two parts (the content
 * whose hash is the messageDigest attribute, and the signed attribute SET), so parsing never
 * re-encodes (X.690 §8.1: identifier, length, contents).
 */
export type Asn1 = forge.asn1.Asn1;
const asn1 = forge.asn1;

export const TAG = {
  integer: 0x02,
  octetString: 0x04,
  null: 0x05,
  oid: 0x06,
  utcTime: 0x17,
  generalizedTime: 0x18,
  sequence: 0x30,
  set: 0x31,
  /** [0] constructed, context-specific (EXPLICIT content, IMPLICIT SET OF). */
  context0: 0xa0,
} as const;

// --- building --------------------------------------------------------------------------------

export function seq(value: Asn1[]): Asn1 {
  return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, value);
}

export function set(value: Asn1[]): Asn1 {
  return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SET, true, value);
}

export function context(tagNumber: number, constructed: boolean, value: Asn1[] | string): Asn1 {
  return asn1.create(asn1.Class.CONTEXT_SPECIFIC, tagNumber, constructed, value);
}

export function oid(id: string): Asn1 {
  return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OID, false, asn1.oidToDer(id).getBytes());
}

export function integer(n: number): Asn1 {
  return asn1.create(
    asn1.Class.UNIVERSAL,
    asn1.Type.INTEGER,
    false,
    asn1.integerToDer(n).getBytes(),
  );
}

export function nullValue(): Asn1 {
  return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.NULL, false, '');
}

export function octets(bytes: Uint8Array): Asn1 {
  return asn1.create(
    asn1.Class.UNIVERSAL,
    asn1.Type.OCTETSTRING,
    false,
    Buffer.from(bytes).toString('binary'),
  );
}

export function utcTime(date: Date): Asn1 {
  return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.UTCTIME, false, asn1.dateToUtcTime(date));
}

/** AlgorithmIdentifier with NULL parameters, as osslsigncode and signtool write them. */
export function algorithm(id: string): Asn1 {
  return seq([oid(id), nullValue()]);
}

/** An already-encoded DER element, carried into a forge tree unchanged. */
export function raw(der: Uint8Array): Asn1 {
  return asn1.fromDer(forge.util.createBuffer(Buffer.from(der).toString('binary')), true);
}

export function derOf(node: Asn1): Buffer {
  return Buffer.from(asn1.toDer(node).getBytes(), 'binary');
}

// --- reading ---------------------------------------------------------------------------------

/** One DER element: its tag byte and where its header and contents sit in `buf`. */
export interface Tlv {
  tag: number;
  /** Offset of the identifier byte. */
  start: number;
  /** Offset of the contents. */
  contentStart: number;
  /** Offset just past the contents. */
  end: number;
}

/**
 * Reads the element at `offset`, which must end at or before `limit`. Only single-byte tags and
 * definite lengths of at most 4 bytes (DER, X.690 §10.1); anything else is refused, so a hostile
 * length can never point outside the buffer.
 */
export function readTlv(buf: Uint8Array, offset: number, limit = buf.length): Tlv {
  if (offset + 2 > limit) throw malformed('truncated DER element');
  const tag = buf[offset] as number;
  if ((tag & 0x1f) === 0x1f) throw malformed('multi-byte DER tags are not used by Authenticode');
  const first = buf[offset + 1] as number;
  let length: number;
  let contentStart: number;
  if (first < 0x80) {
    length = first;
    contentStart = offset + 2;
  } else {
    const count = first & 0x7f;
    if (count === 0 || count > 4) throw malformed('indefinite or oversized DER length');
    if (offset + 2 + count > limit) throw malformed('truncated DER length');
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + (buf[offset + 2 + i] as number);
    contentStart = offset + 2 + count;
  }
  const end = contentStart + length;
  if (end > limit) throw malformed('DER element runs past its container');
  return { tag, start: offset, contentStart, end };
}

/** The element at `offset`, which must carry `tag`. */
export function expectTlv(
  buf: Uint8Array,
  offset: number,
  tag: number,
  what: string,
  limit = buf.length,
): Tlv {
  const tlv = readTlv(buf, offset, limit);
  if (tlv.tag !== tag) throw malformed(`${what}: expected tag 0x${tag.toString(16)}`);
  return tlv;
}

/** The elements directly inside a constructed element, at most `max` of them. */
export function children(buf: Uint8Array, parent: Tlv, max = 64): Tlv[] {
  const out: Tlv[] = [];
  let at = parent.contentStart;
  while (at < parent.end) {
    if (out.length >= max) throw malformed('too many DER elements');
    const tlv = readTlv(buf, at, parent.end);
    out.push(tlv);
    at = tlv.end;
  }
  return out;
}

export function oidAt(buf: Uint8Array, tlv: Tlv): string {
  if (tlv.tag !== TAG.oid) throw malformed('expected an OBJECT IDENTIFIER');
  return asn1.derToOid(forge.util.createBuffer(bytesOf(buf, tlv, false).toString('binary')));
}

/** The element's bytes: with its header (`whole`) or only its contents. */
export function bytesOf(buf: Uint8Array, tlv: Tlv, whole: boolean): Buffer {
  return Buffer.from(buf.subarray(whole ? tlv.start : tlv.contentStart, tlv.end));
}

export function malformed(message: string): UpcatError {
  return new UpcatError('malformed_signature', `malformed Authenticode signature: ${message}`);
}
