import { X509Certificate } from 'node:crypto';
import { UpcatError, invalidInput } from '../../errors.js';
import type { ParsedAuthenticode } from './parse.js';
import { checkSigner, subjectLine, thumbprint } from './trust.js';

/** What a successful Authenticode verification (CAB or PE) answers. */
export interface VerifiedSignature {
  /** The signer's subject, one line ("CN=..., O=..."). */
  subject: string;
  issuer: string;
  /** SHA-1 of the signer's certificate, upper-case hex. */
  thumbprintSha1: string;
  /** The Authenticode digest, hex, and its algorithm. */
  digest: string;
  digestAlgorithm: string;
  signingTime: Date | undefined;
}

export interface VerifyOptions {
  /** The time validity is judged at, besides the signing time (tests). */
  now?: Date;
}

export type TrustedCertificates = readonly (string | Buffer | X509Certificate)[];

/** The file digest recomputed by the caller must equal the signed one; then the signer checks. */
export function verdict(
  parsed: ParsedAuthenticode,
  computed: Buffer,
  trusted: readonly X509Certificate[],
  options: VerifyOptions,
): VerifiedSignature {
  if (!computed.equals(parsed.fileDigest))
    throw new UpcatError(
      'tampered',
      `file digest ${computed.toString('hex')} differs from the signed ${parsed.fileDigest.toString('hex')}`,
    );
  const { certificate } = checkSigner(parsed, trusted, options.now ?? new Date());
  return {
    subject: subjectLine(certificate),
    issuer: certificate.issuer.split('\n').join(', '),
    thumbprintSha1: thumbprint(certificate),
    digest: computed.toString('hex'),
    digestAlgorithm: parsed.fileDigestAlgorithm,
    signingTime: parsed.signer.signingTime,
  };
}

/** Trusted certificates as given: X509 objects, DER, or PEM text (a bundle may hold several). */
export function trustAnchors(trusted: TrustedCertificates): X509Certificate[] {
  const items = trusted.flatMap((t): (string | Buffer | X509Certificate)[] =>
    typeof t === 'string' ? (t.match(PEM_CERTIFICATE) ?? [t]) : [t],
  );
  if (items.length === 0) throw invalidInput('no trusted certificate given to verify against');
  return items.map((t, i) => {
    if (t instanceof X509Certificate) return t;
    try {
      return new X509Certificate(t);
    } catch (err) {
      throw new UpcatError('invalid_input', `trusted certificate ${i} is not readable X.509`, {
        cause: err,
      });
    }
  });
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g;

export function notSigned(what: string): UpcatError {
  return new UpcatError('unsigned', `${what} carries no Authenticode signature`);
}
