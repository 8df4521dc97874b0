import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
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
import {
  notSigned,
  trustAnchors,
  verdict,
  type TrustedCertificates,
  type VerifiedSignature,
  type VerifyOptions,
} from './verdict.js';

export type VerifiedCab = VerifiedSignature;

/**
 * Verification of a signed cabinet: the digest recomputed over the signed range (cab-layout.ts)
 * must equal the one in the signature, and the signature must come from a code-signing
 * certificate that chains to one of `trusted`. Refusals are coded: 'unsigned', 'tampered',
 * 'untrusted_publisher', 'malformed_signature' (src/errors.ts).
 */
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
    return verdict(parsed, hash.digest(), anchors, options);
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
  return verdict(parsed, hash.digest(), anchors, options);
}

function parseCab(block: Buffer): ParsedAuthenticode {
  const parsed = parseAuthenticode(block);
  if (parsed.dataType !== OID.spcCabData)
    throw malformed(`content type ${parsed.dataType} is not a cabinet's (SPC_CAB_DATA)`);
  return parsed;
}
