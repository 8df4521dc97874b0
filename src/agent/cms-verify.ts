import { X509Certificate, verify, type KeyObject } from 'node:crypto';
import type Forge from 'node-forge';
import { UpcatError } from '../errors.js';
import { pathToSiteCa } from './cms-chain.js';
import { loadForge } from './forge-lazy.js';

/**
 * Verifies a payload's detached CMS signature (RFC 5652 SignedData, as src/signing/cms.ts writes
 * it and `openssl cms -verify` accepts) without openssl on the endpoint:
 *  1. the signer certificate (the one the SignerInfo names by serial) was issued by the site
 *     CA, directly or through an organization CA the site CA cross-certified at
 *     `upcat keys import-publisher` (./cms-chain.ts), is valid now, and carries the codeSigning
 *     extended key usage: in native mode the same CA issues every endpoint a clientAuth
 *     certificate and the server a serverAuth one, and neither may sign a payload;
 *  2. the signed attributes' messageDigest equals the payload's SHA-256 (already verified
 *     against the TUF target by the caller), and their contentType is id-data;
 *  3. the signature over the DER of the attributes as a SET OF (§5.4) verifies with the
 *     certificate's key.
 * Any deviation is an `integrity` error naming the step.
 */
const OID = {
  signedData: '1.2.840.113549.1.7.2',
  data: '1.2.840.113549.1.7.1',
  contentType: '1.2.840.113549.1.9.3',
  messageDigest: '1.2.840.113549.1.9.4',
  sha256: '2.16.840.1.101.3.4.2.1',
  codeSigning: '1.3.6.1.5.5.7.3.3',
} as const;

type Asn1 = Forge.asn1.Asn1;

export function verifyDetachedCms(
  signatureDer: Buffer,
  payloadSha256: string,
  caCertificatePem: string,
  now: Date = new Date(),
): void {
  const forge = loadForge();
  const asn1 = forge.asn1;
  const fail = (why: string): UpcatError =>
    new UpcatError('integrity', `payload ${payloadSha256.slice(0, 12)}: CMS signature: ${why}`);
  let root: Asn1;
  try {
    root = asn1.fromDer(forge.util.createBuffer(signatureDer.toString('binary')), true);
  } catch {
    throw fail('not DER');
  }
  const [typeOid, wrapped] = children(root);
  if (oidOf(typeOid) !== OID.signedData) throw fail('not a SignedData');
  const signedData = children(wrapped)[0];
  const sd = children(signedData);
  const certsNode = sd.find((n) => n.tagClass === asn1.Class.CONTEXT_SPECIFIC && n.type === 0);
  const signerInfos = children(sd[sd.length - 1]);
  const signerInfo = children(signerInfos[0]);
  if (certsNode === undefined || signerInfo.length < 6) throw fail('no certificate or signer');
  const [, sid, digestAlg, attrsNode, , sigNode] = signerInfo;
  if (oidOf(children(digestAlg)[0]) !== OID.sha256) throw fail('digest algorithm is not SHA-256');
  if (attrsNode?.tagClass !== asn1.Class.CONTEXT_SPECIFIC || attrsNode.type !== 0)
    throw fail('no signed attributes');

  // The SignerInfo names its certificate by issuer and serial (RFC 5652 §5.3): that one, and no
  // other certificate that happens to ride along in the set, is the signer.
  const serial = serialOf(children(sid)[1]);
  if (serial === undefined) throw fail('the signer is not named by issuer and serial number');
  const ca = parsedCertificate(caCertificatePem);
  const certs = children(certsNode).map((c) => parsedCertificate(derOf(c)));
  const signer = certs.find((c) => hexNumber(c.serialNumber) === serial);
  if (signer === undefined) throw fail('the signer certificate is not in the signature');
  if (signer.ca)
    throw fail('the signer certificate was not issued by the site CA (it is a CA certificate)');
  const chain = pathToSiteCa(signer, certs, ca, now);
  if (!chain.ok) throw fail(`the signer certificate was not issued by the site CA (${chain.why})`);
  // Node leaves keyUsage (the extended key usages) undefined when the extension is absent.
  const usages: readonly string[] | undefined = signer.keyUsage;
  if (usages?.includes(OID.codeSigning) !== true)
    throw fail(
      `the signer certificate (${signer.subject.replace(/\n/g, ', ')}) is not a code-signing certificate`,
    );
  if (now < new Date(signer.validFrom) || now > new Date(signer.validTo))
    throw fail(
      `the signer certificate is not valid now (${signer.validFrom} to ${signer.validTo})`,
    );

  let digest: string | undefined;
  let contentType: string | undefined;
  for (const attr of children(attrsNode)) {
    const [type, values] = children(attr);
    const value = children(values)[0];
    if (oidOf(type) === OID.messageDigest && value !== undefined)
      digest = Buffer.from(String(value.value), 'binary').toString('hex');
    if (oidOf(type) === OID.contentType) contentType = oidOf(value);
  }
  if (contentType !== OID.data) throw fail('content type is not id-data');
  if (digest !== payloadSha256.toLowerCase())
    throw fail('it signs other content (message digest differs)');

  const attrsDer = derOf(attrsNode);
  attrsDer[0] = 0x31; // [0] IMPLICIT in SignerInfo; signed as a SET OF (RFC 5652 §5.4)
  const signature = Buffer.from(String(sigNode?.value ?? ''), 'binary');
  if (!verify('sha256', attrsDer, publicKeyOf(signer), signature))
    throw fail('the signature does not verify');
}

function children(node: Asn1 | undefined): Asn1[] {
  return node !== undefined && Array.isArray(node.value) ? (node.value as Asn1[]) : [];
}

function oidOf(node: Asn1 | undefined): string | undefined {
  const { asn1, util } = loadForge();
  if (node?.type !== asn1.Type.OID || typeof node.value !== 'string') return undefined;
  return asn1.derToOid(util.createBuffer(node.value));
}

/** An INTEGER's value as hex in one form (lower case, no leading zeros), as hexNumber. */
function serialOf(node: Asn1 | undefined): string | undefined {
  const { asn1 } = loadForge();
  if (node?.type !== asn1.Type.INTEGER || typeof node.value !== 'string') return undefined;
  return hexNumber(Buffer.from(node.value, 'binary').toString('hex'));
}

function hexNumber(hex: string): string {
  return hex.toLowerCase().replace(/^0+(?=.)/, '');
}

function derOf(node: Asn1): Buffer {
  return Buffer.from(loadForge().asn1.toDer(node).getBytes(), 'binary');
}

/**
 * Certificates parsed once: every payload of a catalog is signed by the same publisher under
 * the same CA, and parsing them again for each signature was the largest single cost of
 * `upcat verify` (docs/BENCHMARKS.md, issue 16). X509Certificate objects are immutable; the map
 * is small and bounded.
 */
const parsed = new Map<string, X509Certificate>();

function parsedCertificate(pemOrDer: string | Buffer): X509Certificate {
  const key = typeof pemOrDer === 'string' ? pemOrDer : pemOrDer.toString('base64');
  let cert = parsed.get(key);
  if (cert === undefined) {
    cert = new X509Certificate(pemOrDer);
    if (parsed.size >= 32) parsed.clear();
    parsed.set(key, cert);
  }
  return cert;
}

/** `publicKey` makes a new KeyObject on every read; one per (cached) certificate is enough. */
const publicKeys = new WeakMap<X509Certificate, KeyObject>();

function publicKeyOf(cert: X509Certificate): KeyObject {
  let key = publicKeys.get(cert);
  if (key === undefined) publicKeys.set(cert, (key = cert.publicKey));
  return key;
}
