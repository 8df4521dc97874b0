import { access, rm } from 'node:fs/promises';
import { invalidInput } from '../../errors.js';
import { writeCab, type CabInputFile, type WriteCabOptions } from '../cab/index.js';
import { linkNew, partialPath, signCabInPlace, type CabSignResult } from './cab-sign.js';
import { prepareSigner, type AuthenticodeSigner, type PreparedSigner } from './signer.js';

/**
 * Files -> signed cabinet. The writer leaves the 20-byte signature reserve, so signing is one
 * read of the compressed cabinet (its digest) and an append: the input files are read once and
 * the cabinet is never copied. A second pass is unavoidable because the digest starts with
 * header fields (cbCabinet, coffCabStart) that depend on how well every block compressed.
 * The signer is checked before any byte is written; the cabinet appears under `output` only
 * when it is complete and signed.
 */
export interface WrapOptions {
  cab?: Omit<WriteCabOptions, 'signatureReserve' | 'overwrite'>;
  signingTime?: Date;
}

export async function writeSignedCab(
  files: CabInputFile[],
  output: string,
  signer: AuthenticodeSigner | PreparedSigner,
  options: WrapOptions = {},
): Promise<CabSignResult> {
  const prepared = 'key' in signer ? signer : prepareSigner(signer, options.signingTime);
  // Refused before gigabytes are compressed; linkNew still guards the race at the end.
  if (await exists(output)) throw invalidInput(`${output} already exists`);
  const partial = partialPath(output);
  try {
    await writeCab(files, partial, { ...options.cab, signatureReserve: true });
    const result = await signCabInPlace(partial, prepared, { signingTime: options.signingTime });
    await linkNew(partial, output);
    return result;
  } finally {
    await rm(partial, { force: true });
  }
}

async function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}
