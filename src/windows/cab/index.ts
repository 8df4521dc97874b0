/**
 * Microsoft Cabinet (MS-CAB) reader and writer.
 *
 * - writeCab: streams files into a cabinet file with bounded memory (MSZIP or stored), starting
 *   a new folder before one would pass 65535 CFDATA blocks; optionally with the 20-byte header
 *   reserve Authenticode needs, so a signer can append the signature in place.
 * - readCab: the directory (header, reserve, folders, files), every size checked against the file.
 * - openCabEntry / readCabEntry / extractCab: file contents as streams, every CFDATA checksum
 *   verified and MSZIP inflated block by block.
 *
 * Malformed input is refused with UpcatError 'invalid_input' whose details.reason is a CabErrorReason.
 */
export type {
  CabCompression,
  CabInputFile,
  WriteCabOptions,
  WriteCabResult,
  CabSignatureSlot,
  CabHeaderInfo,
  CabFolderInfo,
  CabFileInfo,
  CabDirectory,
  ExtractedFile,
} from './types.js';
export type { CabErrorReason } from './errors.js';
export { writeCab } from './writer.js';
export { readCab } from './reader.js';
export { openCabEntry, readCabEntry, extractCab } from './extract.js';
export { cabChecksum } from './checksum.js';
export {
  SIGNATURE_RESERVE_BYTES,
  SIGNATURE_RESERVE_MAGIC,
  SIGNATURE_OFFSET_POSITION,
  SIGNATURE_LENGTH_POSITION,
} from './header.js';
