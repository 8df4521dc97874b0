import { X509Certificate, createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { UpcatError, invalidInput } from '../../errors.js';
import {
  SIGNED_HEADER_SIZE,
  hashedParts,
  isSigned,
  parseCabHeader,
  signedEnd,
} from './cab-layout.js';
import { hashRange, readPrefix } from './cab-sign.js';
import { malformed } from './der.js';
import { OID } from './oids.js';
import { parseAuthenticode, type ParsedAuthenticode } from './parse.js';
import { checkSigner, subjectLine, thumbprint } from './trust.js';

/**
 * Verification of a signed cabinet: the digest recomputed over the signed range (cab-layout.ts)
 * must equal the one in the signature, and the signature must come from a code-signing
 * certificate that chains to one of `trusted`. Refusals are coded: 'unsigned', 'tampered',
 * 'untrusted_publisher', 'malformed_signature' (src/errors.ts).
 */
export interface VerifiedCab {
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

export async function verifyCab(
  file: string,
  trusted: TrustedCertificates,
  options: VerifyOptions = {},
): Promise<VerifiedCab> {
  const anchors = trustAnchors(trusted);
  const fh = await open(file, 'r');
  try {
    const { header, prefix } = await readPrefix(fh);
    if (!isSigned(header)) throw notSigned(file);
    const end = signedEnd(header);
    const block = Buffer.alloc(header.fileSize - end);
    const { bytesRead } = await fh.read(block, 0, block.length, end);
    if (bytesRead !== block.length) throw malformed('signature truncated');
    const parsed = parseCab(block);
    const hash = createHash(parsed.fileDigestAlgorithm);
    for (const part of hashedParts(prefix)) hash.update(part);
    await hashRange(hash, fh, header.coffFiles, end);
    return finish(parsed, hash.digest(), anchors, options);
  } finally {
    await fh.close();
  }
}

export function verifyCabBytes(
  cab: Buffer,
  trusted: TrustedCertificates,
  options: VerifyOptions = {},
): VerifiedCab {
  const anchors = trustAnchors(trusted);
  const header = parseCabHeader(cab.subarray(0, SIGNED_HEADER_SIZE), cab.length);
  if (!isSigned(header)) throw notSigned('cabinet');
  const end = signedEnd(header);
  const parsed = parseCab(cab.subarray(end));
  const hash = createHash(parsed.fileDigestAlgorithm);
  for (const part of hashedParts(cab.subarray(0, header.coffFiles))) hash.update(part);
  hash.update(cab.subarray(header.coffFiles, end));
  return finish(parsed, hash.digest(), anchors, options);
}

function parseCab(block: Buffer): ParsedAuthenticode {
  const parsed = parseAuthenticode(block);
  if (parsed.dataType !== OID.spcCabData)
    throw malformed(`content type ${parsed.dataType} is not a cabinet's (SPC_CAB_DATA)`);
  return parsed;
}

function finish(
  parsed: ParsedAuthenticode,
  computed: Buffer,
  trusted: readonly X509Certificate[],
  options: VerifyOptions,
): VerifiedCab {
  if (!computed.equals(parsed.fileDigest))
    throw new UpcatError(
      'tampered',
      `cabinet digest ${computed.toString('hex')} differs from the signed ${parsed.fileDigest.toString('hex')}`,
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
function trustAnchors(trusted: TrustedCertificates): X509Certificate[] {
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

function notSigned(what: string): UpcatError {
  return new UpcatError('unsigned', `${what} carries no Authenticode signature`);
}
