import { X509Certificate } from 'node:crypto';
import { open } from 'node:fs/promises';
import { errnoCode, invalidInput } from '../../errors.js';
import type { SiteSigning } from '../../signing/site-signing.js';
import { signCabFile, type CabSignOptions, type CabSignResult } from './cab-sign.js';
import { signMsiFile } from './msi.js';
import { signPeFile } from './pe.js';
import { prepareSigner, type AuthenticodeSigner } from './signer.js';

/**
 * Authenticode-signs a payload of whichever kind it is (`upcat sign`): a cabinet, a PE image
 * or an MSI package, told apart by their first bytes (MS-CAB "MSCF", the DOS header's "MZ",
 * the MS-CFB header signature).
 */
export type SignableKind = 'cab' | 'pe' | 'msi';

export interface SignFileResult extends CabSignResult {
  kind: SignableKind;
  /** The publisher certificate's subject and SHA-1 thumbprint (as Windows shows them). */
  subject: string;
  thumbprint: string;
}

const CFB_MAGIC = Buffer.from('d0cf11e0a1b11ae1', 'hex');

export async function signableKind(file: string): Promise<SignableKind> {
  let head = Buffer.alloc(8);
  try {
    const fh = await open(file, 'r');
    try {
      const { bytesRead } = await fh.read(head, 0, 8, 0);
      head = head.subarray(0, bytesRead);
    } finally {
      await fh.close();
    }
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') throw invalidInput(`${file} does not exist`);
    if (errnoCode(err) === 'EISDIR') throw invalidInput(`${file} is a directory`);
    throw err;
  }
  if (head.subarray(0, 4).toString('latin1') === 'MSCF') return 'cab';
  if (head.subarray(0, 2).toString('latin1') === 'MZ') return 'pe';
  if (head.equals(CFB_MAGIC)) return 'msi';
  throw invalidInput(`${file} is not a cabinet, a PE image or an MSI package`);
}

export async function signFile(
  input: string,
  output: string,
  signer: AuthenticodeSigner,
  options: CabSignOptions = {},
): Promise<SignFileResult> {
  const kind = await signableKind(input);
  const prepared = prepareSigner(signer, options.signingTime);
  const sign = kind === 'cab' ? signCabFile : kind === 'pe' ? signPeFile : signMsiFile;
  const result = await sign(input, output, prepared, options);
  return {
    ...result,
    kind,
    subject: prepared.certificate.subject.replace(/\n/g, ', '),
    thumbprint: prepared.certificate.fingerprint.replace(/:/g, ''),
  };
}

/**
 * The site's publisher as an Authenticode signer: an imported publisher brings its own chain;
 * the site CA's own publisher carries the CA certificate so a verifier can build the chain.
 */
export function siteAuthenticodeSigner(
  signing: Pick<SiteSigning, 'publisher' | 'caCertificatePem'>,
): AuthenticodeSigner {
  const { publisher, caCertificatePem } = signing;
  const issuedBySiteCa = new X509Certificate(publisher.certificatePem).checkIssued(
    new X509Certificate(caCertificatePem),
  );
  const chainPems =
    publisher.chainPems.length > 0 || !issuedBySiteCa ? publisher.chainPems : [caCertificatePem];
  return {
    certificatePem: publisher.certificatePem,
    privateKeyPem: publisher.privateKeyPem,
    chainPems,
  };
}
