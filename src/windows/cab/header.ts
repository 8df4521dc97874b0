/**
 * CFHEADER, MS-CAB 2.1 (all integers little-endian, packed):
 *
 * | off | size | field        | notes                                                        |
 * |-----|------|--------------|--------------------------------------------------------------|
 * | 0   | 4    | signature    | "MSCF"                                                       |
 * | 4   | 4    | reserved1    | 0                                                            |
 * | 8   | 4    | cbCabinet    | size of the cabinet (without an appended Authenticode blob)  |
 * | 12  | 4    | reserved2    | 0                                                            |
 * | 16  | 4    | coffFiles    | offset of the first CFFILE                                   |
 * | 20  | 4    | reserved3    | 0                                                            |
 * | 24  | 1    | versionMinor | 3                                                            |
 * | 25  | 1    | versionMajor | 1                                                            |
 * | 26  | 2    | cFolders     |                                                              |
 * | 28  | 2    | cFiles       |                                                              |
 * | 30  | 2    | flags        | 1 PREV_CABINET, 2 NEXT_CABINET, 4 RESERVE_PRESENT            |
 * | 32  | 2    | setID        |                                                              |
 * | 34  | 2    | iCabinet     | 0 for a single cabinet                                       |
 * | 36  | 2    | cbCFHeader   | only with RESERVE_PRESENT, 0..60000                          |
 * | 38  | 1    | cbCFFolder   | only with RESERVE_PRESENT                                    |
 * | 39  | 1    | cbCFData     | only with RESERVE_PRESENT                                    |
 * | 40  | n    | abReserve    | cbCFHeader bytes                                             |
 *
 * szCabinetPrev/szDiskPrev/szCabinetNext/szDiskNext follow only in multi-volume sets, which
 * this module refuses (upcat writes and reads single cabinets).
 *
 * The Authenticode layout of abReserve (20 bytes; osslsigncode cab.c, interop.md 4.1):
 * | 40 | 4 | 0x00100000 | 44 | 4 | signature offset | 48 | 4 | signature length (padded to 8) | 52 | 8 | zero |
 */
import { cabError } from './errors.js';
import type { CabSignatureSlot } from './types.js';

export const CFHEADER_FIXED_BYTES = 36;
export const FLAG_PREV_CABINET = 0x0001;
export const FLAG_NEXT_CABINET = 0x0002;
export const FLAG_RESERVE_PRESENT = 0x0004;
/** MS-CAB 2.1: cbCFHeader is at most 60,000. */
export const MAX_HEADER_RESERVE = 60_000;
/** The most bytes a CFHEADER can take (fixed part, reserve sizes, largest reserve). */
export const MAX_CFHEADER_BYTES = CFHEADER_FIXED_BYTES + 4 + MAX_HEADER_RESERVE;

export const SIGNATURE_RESERVE_BYTES = 20;
export const SIGNATURE_RESERVE_MAGIC = 0x00100000;
/** File offsets of the signature offset and length fields inside abReserve. */
export const SIGNATURE_OFFSET_POSITION = 44;
export const SIGNATURE_LENGTH_POSITION = 48;

const SIGNATURE = Buffer.from('MSCF', 'latin1');

export interface CfHeader {
  cbCabinet: number;
  coffFiles: number;
  versionMinor: number;
  versionMajor: number;
  cFolders: number;
  cFiles: number;
  flags: number;
  setID: number;
  iCabinet: number;
  cbCFFolder: number;
  cbCFData: number;
  /** abReserve; its length is cbCFHeader. Only meaningful with RESERVE_PRESENT. */
  abReserve: Buffer;
}

/** Bytes the header takes on disk (the offset of the first CFFOLDER). */
export function headerBytes(h: Pick<CfHeader, 'flags' | 'abReserve'>): number {
  return (h.flags & FLAG_RESERVE_PRESENT) !== 0
    ? CFHEADER_FIXED_BYTES + 4 + h.abReserve.length
    : CFHEADER_FIXED_BYTES;
}

export function encodeHeader(h: CfHeader): Buffer {
  const out = Buffer.alloc(headerBytes(h));
  SIGNATURE.copy(out, 0);
  out.writeUInt32LE(h.cbCabinet, 8);
  out.writeUInt32LE(h.coffFiles, 16);
  out.writeUInt8(h.versionMinor, 24);
  out.writeUInt8(h.versionMajor, 25);
  out.writeUInt16LE(h.cFolders, 26);
  out.writeUInt16LE(h.cFiles, 28);
  out.writeUInt16LE(h.flags, 30);
  out.writeUInt16LE(h.setID, 32);
  out.writeUInt16LE(h.iCabinet, 34);
  if ((h.flags & FLAG_RESERVE_PRESENT) !== 0) {
    out.writeUInt16LE(h.abReserve.length, 36);
    out.writeUInt8(h.cbCFFolder, 38);
    out.writeUInt8(h.cbCFData, 39);
    h.abReserve.copy(out, 40);
  }
  return out;
}

/**
 * Decodes and checks a CFHEADER. `head` holds the file's first bytes (up to MAX_CFHEADER_BYTES),
 * `fileBytes` is the file's size: every size is checked against it before use.
 */
export function decodeHeader(head: Buffer, fileBytes: number): CfHeader {
  if (head.length < CFHEADER_FIXED_BYTES) {
    throw cabError('truncated', `file of ${fileBytes} bytes is shorter than a CFHEADER`);
  }
  if (!head.subarray(0, 4).equals(SIGNATURE)) {
    throw cabError('not_a_cabinet', 'no MSCF signature');
  }
  const h: CfHeader = {
    cbCabinet: head.readUInt32LE(8),
    coffFiles: head.readUInt32LE(16),
    versionMinor: head.readUInt8(24),
    versionMajor: head.readUInt8(25),
    cFolders: head.readUInt16LE(26),
    cFiles: head.readUInt16LE(28),
    flags: head.readUInt16LE(30),
    setID: head.readUInt16LE(32),
    iCabinet: head.readUInt16LE(34),
    cbCFFolder: 0,
    cbCFData: 0,
    abReserve: Buffer.alloc(0),
  };
  if (h.versionMajor !== 1) {
    throw cabError('not_a_cabinet', `unsupported version ${h.versionMajor}.${h.versionMinor}`);
  }
  if ((h.flags & (FLAG_PREV_CABINET | FLAG_NEXT_CABINET)) !== 0) {
    throw cabError('multi_volume', 'multi-volume cabinets (PREV/NEXT_CABINET) are not supported');
  }
  if (h.cbCabinet > fileBytes) {
    throw cabError(
      'truncated',
      `cbCabinet ${h.cbCabinet} is past the end of the ${fileBytes}-byte file`,
    );
  }
  if ((h.flags & FLAG_RESERVE_PRESENT) !== 0) {
    if (head.length < CFHEADER_FIXED_BYTES + 4)
      throw cabError('truncated', 'header reserve sizes cut off');
    const cbCFHeader = head.readUInt16LE(36);
    if (cbCFHeader > MAX_HEADER_RESERVE) {
      throw cabError('bad_size', `cbCFHeader ${cbCFHeader} is over ${MAX_HEADER_RESERVE}`);
    }
    h.cbCFFolder = head.readUInt8(38);
    h.cbCFData = head.readUInt8(39);
    if (CFHEADER_FIXED_BYTES + 4 + cbCFHeader > head.length) {
      throw cabError('truncated', 'header reserve cut off');
    }
    h.abReserve = Buffer.from(head.subarray(40, 40 + cbCFHeader));
  }
  if (headerBytes(h) > h.cbCabinet) {
    throw cabError('bad_size', `cbCabinet ${h.cbCabinet} is smaller than the header`);
  }
  return h;
}

/** abReserve for a cabinet that a signer will sign in place: the signature goes at `offset`. */
export function encodeSignatureReserve(slot: CabSignatureSlot): Buffer {
  const out = Buffer.alloc(SIGNATURE_RESERVE_BYTES);
  out.writeUInt32LE(SIGNATURE_RESERVE_MAGIC, 0);
  out.writeUInt32LE(slot.offset, 4);
  out.writeUInt32LE(slot.length, 8);
  return out;
}

/** The signature slot when abReserve has the Authenticode layout, else undefined. */
export function decodeSignatureReserve(abReserve: Buffer): CabSignatureSlot | undefined {
  if (abReserve.length !== SIGNATURE_RESERVE_BYTES) return undefined;
  if (abReserve.readUInt32LE(0) !== SIGNATURE_RESERVE_MAGIC) return undefined;
  return { offset: abReserve.readUInt32LE(4), length: abReserve.readUInt32LE(8) };
}
