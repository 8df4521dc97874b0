import { TAG, bytesOf, children, expectTlv, malformed, oidAt, type Tlv } from './der.js';
import { DIGESTS, OID } from './oids.js';

/**
 * Reads an Authenticode PKCS#7 block (RFC 2315 §9.1 SignedData, §9.2 SignerInfo; Authenticode
 * PE format §"SignedData", §"SpcIndirectDataContent") into the parts a verifier checks, keeping
 * the received bytes of what is hashed. Every length is bounded by its container (der.ts), and
 * the walk follows the fixed structure: no recursion driven by the input.
 */
export interface ParsedAuthenticode {
  /** SpcAttributeTypeAndOptionalValue.type: SPC_CAB_DATA, SPC_PE_IMAGE_DATA... */
  dataType: string;
  /** The file digest the signature covers, and its algorithm (Node hash name). */
  fileDigest: Buffer;
  fileDigestAlgorithm: string;
  /** The contents of SpcIndirectDataContent (without tag and length): what messageDigest hashes. */
  indirectContents: Buffer;
  certificates: Buffer[];
  signer: ParsedSignerInfo;
}

export interface ParsedSignerInfo {
  issuer: Buffer;
  serial: Buffer;
  digestAlgorithm: string;
  /** The signed attributes re-tagged as SET OF (0x31): the bytes the signature covers. */
  signedAttributes: Buffer;
  contentType: string | undefined;
  messageDigest: Buffer | undefined;
  signingTime: Date | undefined;
  signature: Buffer;
}

const MAX_CERTIFICATES = 32;

export function parseAuthenticode(block: Buffer): ParsedAuthenticode {
  const outer = expectTlv(block, 0, TAG.sequence, 'ContentInfo');
  // Authenticode pads the block with zeros to a multiple of 8 (osslsigncode cab_append_pkcs7).
  const padding = block.subarray(outer.end);
  if (padding.length >= 8 || padding.some((b) => b !== 0))
    throw malformed('unexpected bytes after the signature');
  const [type, wrapped] = children(block, outer, 2);
  if (type === undefined || oidAt(block, type) !== OID.signedData || wrapped?.tag !== TAG.context0)
    throw malformed('not a PKCS#7 SignedData');
  const signedData = expectTlv(
    block,
    wrapped.contentStart,
    TAG.sequence,
    'SignedData',
    wrapped.end,
  );
  const fields = children(block, signedData, 6);
  const content = fields[2];
  if (fields[0]?.tag !== TAG.integer || fields[1]?.tag !== TAG.set || content === undefined)
    throw malformed('SignedData fields');
  let at = 3;
  const certificates: Buffer[] = [];
  if (fields[at]?.tag === TAG.context0) {
    const certs = children(block, fields[at] as Tlv, MAX_CERTIFICATES);
    for (const c of certs) certificates.push(bytesOf(block, c, true));
    at++;
  }
  if (fields[at]?.tag === 0xa1) at++; // crls [1], unused by Authenticode
  const signerInfos = fields[at];
  if (signerInfos?.tag !== TAG.set || at !== fields.length - 1)
    throw malformed('SignedData signerInfos');
  const signers = children(block, signerInfos, 2);
  if (signers.length !== 1) throw malformed('Authenticode takes exactly one SignerInfo');
  return {
    ...parseIndirectData(block, content),
    certificates,
    signer: parseSignerInfo(block, signers[0] as Tlv),
  };
}

/** contentInfo { SPC_INDIRECT_DATA, [0] SpcIndirectDataContent { data, DigestInfo } }. */
function parseIndirectData(
  block: Buffer,
  content: Tlv,
): Pick<
  ParsedAuthenticode,
  'dataType' | 'fileDigest' | 'fileDigestAlgorithm' | 'indirectContents'
> {
  const [type, wrapped] = children(block, content, 2);
  if (type === undefined || oidAt(block, type) !== OID.spcIndirectData)
    throw malformed('content is not SpcIndirectDataContent');
  if (wrapped?.tag !== TAG.context0) throw malformed('SpcIndirectDataContent missing');
  const idc = expectTlv(
    block,
    wrapped.contentStart,
    TAG.sequence,
    'SpcIndirectDataContent',
    wrapped.end,
  );
  const [data, digestInfo] = children(block, idc, 2);
  if (data?.tag !== TAG.sequence || digestInfo?.tag !== TAG.sequence)
    throw malformed('SpcIndirectDataContent fields');
  const dataType = children(block, data, 2)[0];
  const [algorithm, digest] = children(block, digestInfo, 2);
  if (dataType === undefined || algorithm?.tag !== TAG.sequence || digest?.tag !== TAG.octetString)
    throw malformed('SpcIndirectDataContent digest');
  return {
    dataType: oidAt(block, dataType),
    fileDigestAlgorithm: digestName(block, algorithm),
    fileDigest: bytesOf(block, digest, false),
    indirectContents: bytesOf(block, idc, false),
  };
}

/** SignerInfo { version, issuerAndSerialNumber, digestAlgorithm, [0] attrs, encAlg, signature, [1]? }. */
function parseSignerInfo(block: Buffer, info: Tlv): ParsedSignerInfo {
  const f = children(block, info, 7);
  const [version, issuerAndSerial, digestAlgorithm, attrs, encryption, signature] = f;
  if (
    version?.tag !== TAG.integer ||
    issuerAndSerial?.tag !== TAG.sequence ||
    digestAlgorithm?.tag !== TAG.sequence ||
    attrs?.tag !== TAG.context0 ||
    encryption?.tag !== TAG.sequence ||
    signature?.tag !== TAG.octetString
  )
    throw malformed('SignerInfo fields (signed attributes are required)');
  const [issuer, serial] = children(block, issuerAndSerial, 2);
  if (issuer?.tag !== TAG.sequence || serial?.tag !== TAG.integer)
    throw malformed('SignerInfo issuerAndSerialNumber');
  const signedAttributes = bytesOf(block, attrs, true);
  signedAttributes[0] = TAG.set; // RFC 2315 §9.3: the signature covers the SET OF encoding
  return {
    issuer: bytesOf(block, issuer, true),
    serial: bytesOf(block, serial, true),
    digestAlgorithm: digestName(block, digestAlgorithm),
    signedAttributes,
    ...readAttributes(block, attrs),
    signature: bytesOf(block, signature, false),
  };
}

function readAttributes(
  block: Buffer,
  attrs: Tlv,
): Pick<ParsedSignerInfo, 'contentType' | 'messageDigest' | 'signingTime'> {
  const values = new Map<string, Tlv>();
  for (const attr of children(block, attrs, 32)) {
    if (attr.tag !== TAG.sequence) throw malformed('signed attribute');
    const [type, valueSet] = children(block, attr, 2);
    if (type === undefined || valueSet?.tag !== TAG.set) throw malformed('signed attribute');
    const id = oidAt(block, type);
    if (values.has(id)) throw malformed(`signed attribute ${id} given twice`);
    const value = children(block, valueSet, 1)[0];
    if (value === undefined) throw malformed(`signed attribute ${id} has no value`);
    values.set(id, value);
  }
  const type = values.get(OID.contentType);
  const digest = values.get(OID.messageDigest);
  const time = values.get(OID.signingTime);
  if (digest !== undefined && digest.tag !== TAG.octetString) throw malformed('messageDigest');
  return {
    contentType: type === undefined ? undefined : oidAt(block, type),
    messageDigest: digest === undefined ? undefined : bytesOf(block, digest, false),
    signingTime: time === undefined ? undefined : readTime(block, time),
  };
}

/** UTCTime YYMMDDHHMMSSZ (years 1950-2049, RFC 5280 §4.1.2.5.1) or GeneralizedTime. */
function readTime(block: Buffer, tlv: Tlv): Date {
  const text = bytesOf(block, tlv, false).toString('latin1');
  const m =
    tlv.tag === TAG.utcTime
      ? /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text)
      : /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text);
  if (m === null || (tlv.tag !== TAG.utcTime && tlv.tag !== TAG.generalizedTime))
    throw malformed('signingTime');
  const [y, mo, d, h, mi, s] = m.slice(1).map(Number) as number[];
  const year = tlv.tag === TAG.utcTime ? ((y as number) < 50 ? 2000 : 1900) + (y as number) : y;
  return new Date(Date.UTC(year as number, (mo as number) - 1, d, h, mi, s));
}

function digestName(block: Buffer, algorithm: Tlv): string {
  const id = children(block, algorithm, 2)[0];
  if (id === undefined) throw malformed('AlgorithmIdentifier');
  const name = DIGESTS[oidAt(block, id)];
  if (name === undefined) throw malformed(`unsupported digest algorithm ${oidAt(block, id)}`);
  return name;
}

/** The issuer Name and serialNumber (with their headers) of a DER certificate. */
export function issuerAndSerialOf(certificate: Buffer): { issuer: Buffer; serial: Buffer } {
  const cert = expectTlv(certificate, 0, TAG.sequence, 'certificate');
  const tbs = expectTlv(certificate, cert.contentStart, TAG.sequence, 'tbsCertificate', cert.end);
  const fields = children(certificate, tbs, 16);
  // TBSCertificate: [0] version (present in v3), serialNumber, signature, issuer, ...
  const at = fields[0]?.tag === TAG.context0 ? 1 : 0;
  const serial = fields[at];
  const issuer = fields[at + 2];
  if (serial?.tag !== TAG.integer || issuer?.tag !== TAG.sequence)
    throw malformed('certificate without issuer or serial');
  return { issuer: bytesOf(certificate, issuer, true), serial: bytesOf(certificate, serial, true) };
}
