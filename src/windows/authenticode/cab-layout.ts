import { UpcatError, invalidInput } from '../../errors.js';

/**
 * Where an Authenticode signature lives in a cabinet, and which bytes it covers
 * (MS-CAB CFHEADER; osslsigncode cab.c; research/interop.md §4.1).
 *
 * | off | size | field (signed layout)                                       | hashed |
 * |-----|------|-------------------------------------------------------------|--------|
 * | 0   | 4    | "MSCF"                                                      | yes    |
 * | 4   | 4    | reserved1 = 0                                               | no     |
 * | 8   | 26   | cbCabinet, reserved2, coffFiles, reserved3, version, cFolders, cFiles, flags, setID | yes |
 * | 34  | 2    | iCabinet                                                    | no     |
 * | 36  | 4    | cbCFHeader = 20, cbCFFolder = 0, cbCFData = 0               | no     |
 * | 40  | 4    | abReserve: 0x00100000                                       | no     |
 * | 44  | 4    | abReserve: signature offset (= cbCabinet)                   | no     |
 * | 48  | 4    | abReserve: signature length, DER padded to 8                | no     |
 * | 52  | 4    | abReserve: zero                                             | no     |
 * | 56  | 4    | abReserve: zero                                             | yes    |
 * | 60  | 8·n  | CFFOLDER × cFolders (coffCabStart, cCFData, typeCompress)   | yes    |
 * | coffFiles … signature offset | CFFILE table and CFDATA blocks             | yes    |
 *
 * An unsigned cabinet without the reserve gets it inserted at offset 36: everything after moves
 * by 24 bytes, so cbCabinet, coffFiles and every coffCabStart grow by 24 (osslsigncode
 * cab_add_header). Multi-volume cabinets (PREV/NEXT flags) are refused, as osslsigncode does.
 */
export const RESERVE_SIZE = 24;
export const SIGNED_HEADER_SIZE = 60;
const PLAIN_HEADER_SIZE = 36;
const FLAG_PREV = 0x1;
const FLAG_NEXT = 0x2;
export const FLAG_RESERVE = 0x4;
const RESERVE_MAGIC = 0x00100000;
/** A generous bound: an Authenticode block holds a few certificates, not megabytes. */
export const MAX_SIGNATURE_BYTES = 1024 * 1024;

export interface CabHeader {
  fileSize: number;
  cbCabinet: number;
  coffFiles: number;
  cFolders: number;
  flags: number;
  /** Present when the 20-byte signature reserve is (signed or ready to sign). */
  reserve: { offset: number; length: number } | undefined;
  /** Where the folder table starts (36, or 60 with the reserve). */
  foldersAt: number;
}

/** Reads the header from its first bytes (at least min(fileSize, 60)); refuses what osslsigncode refuses. */
export function parseCabHeader(head: Buffer, fileSize: number): CabHeader {
  if (fileSize < PLAIN_HEADER_SIZE || head.length < PLAIN_HEADER_SIZE)
    throw invalidInput('not a cabinet file: shorter than a CFHEADER');
  if (head.toString('latin1', 0, 4) !== 'MSCF')
    throw invalidInput('not a cabinet file: no MSCF signature');
  if (head.readUInt32LE(4) !== 0) throw invalidInput('cabinet header reserved1 is not zero');
  if (head[25] !== 1 || head[24] !== 3) throw invalidInput('unsupported cabinet format version');
  const flags = head.readUInt16LE(30);
  if ((flags & (FLAG_PREV | FLAG_NEXT)) !== 0)
    throw invalidInput('multi-volume cabinets cannot be signed or verified');
  const header: CabHeader = {
    fileSize,
    cbCabinet: head.readUInt32LE(8),
    coffFiles: head.readUInt32LE(16),
    cFolders: head.readUInt16LE(26),
    flags,
    reserve: undefined,
    foldersAt: PLAIN_HEADER_SIZE,
  };
  if ((flags & FLAG_RESERVE) !== 0) {
    if (fileSize < SIGNED_HEADER_SIZE || head.length < SIGNED_HEADER_SIZE)
      throw invalidInput('cabinet header reserve is truncated');
    // cbCFHeader = 20 with no folder or data reserve, then the signature header (osslsigncode cab_ctx_get).
    if (head.readUInt32LE(36) !== 20 || head.readUInt32LE(40) !== RESERVE_MAGIC)
      throw new UpcatError(
        'malformed_signature',
        'cabinet header reserve is not an Authenticode signature reserve',
      );
    header.reserve = { offset: head.readUInt32LE(44), length: head.readUInt32LE(48) };
    header.foldersAt = SIGNED_HEADER_SIZE;
  }
  if (header.coffFiles !== header.foldersAt + 8 * header.cFolders)
    throw invalidInput('cabinet coffFiles does not follow the folder table');
  if (header.coffFiles > fileSize) throw invalidInput('cabinet coffFiles points past the end');
  return header;
}

/**
 * Where the signed range ends: the signature offset of a signed cabinet, or the file's end.
 * Bounded checks first, so a hostile offset or length never leads a read outside the file.
 */
export function signedEnd(header: CabHeader): number {
  const reserve = header.reserve;
  if (reserve === undefined || reserve.length === 0) {
    if (header.cbCabinet !== header.fileSize)
      throw invalidInput(
        `cabinet cbCabinet is ${header.cbCabinet} but the file has ${header.fileSize} bytes`,
      );
    // A reserve waiting for its signature holds offset 0 (osslsigncode) or the file's end (upcat's writer).
    if (reserve !== undefined && reserve.offset !== 0 && reserve.offset !== header.fileSize)
      throw new UpcatError('malformed_signature', 'cabinet signature offset without a length');
    return header.fileSize;
  }
  const bad = (why: string): UpcatError =>
    new UpcatError('malformed_signature', `cabinet signature ${why}`, {
      details: { offset: reserve.offset, length: reserve.length, fileSize: header.fileSize },
    });
  if (reserve.length > MAX_SIGNATURE_BYTES) throw bad('length is absurd');
  if (reserve.offset < header.coffFiles) throw bad('offset points into the header');
  if (reserve.offset + reserve.length !== header.fileSize)
    throw bad('does not end where the file ends');
  if (header.cbCabinet !== reserve.offset) throw bad('offset differs from cbCabinet');
  return reserve.offset;
}

/** Signed: the reserve names a signature length (offset and length are checked by signedEnd). */
export function isSigned(header: CabHeader): boolean {
  return header.reserve !== undefined && header.reserve.length !== 0;
}

/**
 * The signed-layout prefix (header, reserve, folder table: bytes [0, coffFiles) of the output)
 * made from the input's prefix, and the digest input it contributes. `bodyLength` is the length
 * of [coffFiles, signedEnd) in the input, copied unchanged after the prefix.
 */
export function signedPrefix(
  header: CabHeader,
  inputPrefix: Buffer,
  bodyLength: number,
): { prefix: Buffer; hashed: Buffer[] } {
  let prefix: Buffer;
  if (header.reserve !== undefined) {
    prefix = Buffer.from(inputPrefix.subarray(0, header.coffFiles));
  } else {
    prefix = Buffer.alloc(header.coffFiles + RESERVE_SIZE);
    inputPrefix.copy(prefix, 0, 0, PLAIN_HEADER_SIZE);
    inputPrefix.copy(prefix, SIGNED_HEADER_SIZE, PLAIN_HEADER_SIZE, header.coffFiles);
    prefix.writeUInt32LE(header.cbCabinet + RESERVE_SIZE, 8);
    prefix.writeUInt32LE(header.coffFiles + RESERVE_SIZE, 16);
    prefix.writeUInt16LE(header.flags | FLAG_RESERVE, 30);
    prefix.writeUInt16LE(20, 36); // cbCFHeader; cbCFFolder and cbCFData stay 0
    prefix.writeUInt32LE(RESERVE_MAGIC, 40);
    for (let i = 0; i < header.cFolders; i++) {
      const at = SIGNED_HEADER_SIZE + 8 * i;
      prefix.writeUInt32LE(prefix.readUInt32LE(at) + RESERVE_SIZE, at);
    }
  }
  const signatureOffset = prefix.length + bodyLength;
  if (signatureOffset > 0xffffffff) throw invalidInput('cabinet is too large to sign (4 GiB)');
  prefix.writeUInt32LE(signatureOffset, 8);
  prefix.writeUInt32LE(signatureOffset, 44);
  prefix.writeUInt32LE(0, 48);
  return { prefix, hashed: hashedParts(prefix) };
}

/** The parts of a signed-layout prefix that the digest covers, in order (table above). */
export function hashedParts(prefix: Buffer): Buffer[] {
  return [prefix.subarray(0, 4), prefix.subarray(8, 34), prefix.subarray(56)];
}

/** The signature block as it is appended: DER zero-padded to a multiple of 8 bytes. */
export function paddedSignature(der: Buffer): Buffer {
  const padded = Buffer.alloc(Math.ceil(der.length / 8) * 8);
  der.copy(padded);
  return padded;
}
