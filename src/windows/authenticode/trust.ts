import { X509Certificate, createHash, verify as cryptoVerify } from 'node:crypto';
import { UpcatError } from '../../errors.js';
import { malformed } from './der.js';
import { OID } from './oids.js';
import { issuerAndSerialOf, type ParsedAuthenticode } from './parse.js';

/**
 * The signer checks of an Authenticode signature (RFC 2315 §9.3-9.4; Authenticode PE format
 * §"Authenticode signature verification"): the signed attributes bind the content, the
 * signature binds the attributes to the signer's key, and the signer's chain reaches a trusted
 * certificate with the codeSigning purpose, valid when it signed or now.
 */
export interface TrustedSigner {
  certificate: X509Certificate;
  /** From the signer up to (and including) the trusted certificate. */
  chain: X509Certificate[];
}

const MAX_CHAIN = 8;

export function checkSigner(
  parsed: ParsedAuthenticode,
  trusted: readonly X509Certificate[],
  now: Date,
): TrustedSigner {
  const info = parsed.signer;
  if (info.contentType !== OID.spcIndirectData)
    throw malformed('signed contentType attribute is not SpcIndirectDataContent');
  if (info.messageDigest === undefined) throw malformed('no messageDigest attribute');
  const contentDigest = createHash(info.digestAlgorithm).update(parsed.indirectContents).digest();
  if (!contentDigest.equals(info.messageDigest))
    throw new UpcatError(
      'tampered',
      'Authenticode signature: the signed content differs from its messageDigest attribute',
    );
  const pool = parsed.certificates.map(parseEmbedded);
  const certificate = pool.find((c) => {
    const id = issuerAndSerialOf(c.raw);
    return id.issuer.equals(info.issuer) && id.serial.equals(info.serial);
  });
  if (certificate === undefined) throw malformed("the signer's certificate is not included");
  if (!signatureVerifies(info, certificate))
    throw new UpcatError(
      'tampered',
      'Authenticode signature: the RSA signature over the signed attributes does not verify',
    );
  if (certificate.keyUsage?.includes(OID.codeSigning) !== true)
    throw untrusted(certificate, 'it lacks the codeSigning extended key usage');
  const chain = chainToTrusted(certificate, pool, trusted);
  const validAt = (at: Date): boolean =>
    chain.every((c) => at >= new Date(c.validFrom) && at <= new Date(c.validTo));
  if (!validAt(now) && (info.signingTime === undefined || !validAt(info.signingTime)))
    throw untrusted(certificate, 'a certificate of its chain is not valid at signing time nor now');
  return { certificate, chain };
}

/** Walks issuer links through the embedded certificates until a trusted one signs or is met. */
function chainToTrusted(
  leaf: X509Certificate,
  pool: readonly X509Certificate[],
  trusted: readonly X509Certificate[],
): X509Certificate[] {
  const chain = [leaf];
  let current = leaf;
  for (let depth = 0; depth < MAX_CHAIN; depth++) {
    if (trusted.some((t) => t.fingerprint256 === current.fingerprint256)) return chain;
    const anchor = trusted.find((t) => issuedBy(current, t));
    if (anchor !== undefined) return [...chain, anchor];
    const next = pool.find((c) => c.ca && !chain.includes(c) && issuedBy(current, c));
    if (next === undefined) break;
    chain.push(next);
    current = next;
  }
  throw untrusted(leaf, 'its chain does not reach a trusted certificate');
}

function issuedBy(cert: X509Certificate, issuer: X509Certificate): boolean {
  try {
    return issuer.ca && cert.checkIssued(issuer) && cert.verify(issuer.publicKey);
  } catch {
    return false; // an unusable issuer key cannot have issued anything
  }
}

/** OpenSSL throws, rather than answering false, on a signature that does not even decode. */
function signatureVerifies(info: ParsedAuthenticode['signer'], cert: X509Certificate): boolean {
  try {
    return cryptoVerify(
      info.digestAlgorithm,
      info.signedAttributes,
      cert.publicKey,
      info.signature,
    );
  } catch {
    return false;
  }
}

function parseEmbedded(der: Buffer): X509Certificate {
  try {
    return new X509Certificate(der);
  } catch (err) {
    throw new UpcatError('malformed_signature', 'an embedded certificate is not readable X.509', {
      cause: err,
    });
  }
}

function untrusted(cert: X509Certificate, why: string): UpcatError {
  const subject = subjectLine(cert);
  return new UpcatError('untrusted_publisher', `publisher ${subject} is not trusted: ${why}`, {
    details: { subject, thumbprintSha1: thumbprint(cert) },
  });
}

export function subjectLine(cert: X509Certificate): string {
  return cert.subject.split('\n').join(', ');
}

/** SHA-1 of the DER certificate, upper-case hex: the thumbprint Windows shows. */
export function thumbprint(cert: X509Certificate): string {
  return createHash('sha1').update(cert.raw).digest('hex').toUpperCase();
}
