/**
 * Public types of the Microsoft Cabinet (MS-CAB) reader and writer. The on-disk structures
 * each have their own module (header.ts, folder.ts, file-entry.ts, data-block.ts); these are
 * the shapes callers see.
 */
import type { Readable } from 'node:stream';

/** Compression of a folder's CFDATA blocks (MS-CAB 2.2 CFFOLDER.typeCompress). */
export type CabCompression = 'none' | 'mszip';

/** One file to put in a cabinet. */
export interface CabInputFile {
  /**
   * Path inside the cabinet. '/' and '\\' both separate directories; it is stored with '\\'
   * as Windows tools expect. Non-ASCII names are stored as UTF-8 with NAME_IS_UTF (0x80).
   * Refused: empty, absolute, a '..' or '.' segment, NUL, more than 255 UTF-8 bytes.
   */
  name: string;
  /**
   * A file path, the bytes themselves, or a function opening a fresh stream of the bytes.
   * With a function, `size` is required (the file table precedes the data) and the stream
   * must yield exactly that many bytes or the write fails and the output is removed.
   */
  source: string | Buffer | (() => Readable);
  /** Byte count. Taken from the file or the Buffer when omitted; required with a stream. */
  size?: number;
  /** Stored as a DOS date/time in UTC. Defaults to the options' mtime, else the file's mtime, else now. */
  mtime?: Date;
  /** Extra DOS attributes (0x01 read-only, 0x02 hidden, 0x04 system, 0x20 archive, 0x40 exec). Default 0x20. */
  attributes?: number;
}

export interface WriteCabOptions {
  /** Default 'mszip'. */
  compression?: CabCompression;
  /**
   * Write the 20-byte CFHEADER reserve that Authenticode uses (RESERVE_PRESENT, cbCFHeader=20,
   * abReserve = u32 0x00100000, signature offset = cbCabinet, signature length 0, 8 zero bytes),
   * so that a signer appends the PKCS#7 at the end and patches offset 48 (length) in place.
   */
  signatureReserve?: boolean;
  /** Date for files that do not give their own (deterministic output when set). */
  mtime?: Date;
  /** setID of CFHEADER. Default 0. */
  setId?: number;
  /** zlib level for MSZIP, 1..9. Default 6 (what zlib and gcab use by default). */
  level?: number;
  /** Replace an existing output file. Default false: an existing path is refused ('conflict'). */
  overwrite?: boolean;
}

export interface WriteCabResult {
  /** Size of the cabinet file (cbCabinet). */
  bytes: number;
  folders: number;
  /** CFDATA blocks in all folders. */
  blocks: number;
  files: number;
  /** Sum of the input sizes. */
  uncompressedBytes: number;
}

/** The header reserve read back, decoded when it has the Authenticode layout. */
export interface CabSignatureSlot {
  /** Offset of the appended PKCS#7 (0 or cbCabinet when unsigned). */
  offset: number;
  /** Its length, padded to 8 bytes (0 when unsigned). */
  length: number;
}

export interface CabHeaderInfo {
  /** cbCabinet: size of the cabinet without any appended signature. */
  cabinetBytes: number;
  versionMajor: number;
  versionMinor: number;
  flags: number;
  setId: number;
  iCabinet: number;
  /** Offset of the first CFFILE (coffFiles). */
  filesOffset: number;
  /** abReserve bytes (empty without RESERVE_PRESENT). */
  headerReserve: Buffer;
  /** cbCFFolder and cbCFData. */
  folderReserveBytes: number;
  dataReserveBytes: number;
  /** Set when abReserve is the 20-byte Authenticode layout (interop.md 4.1). */
  signature?: CabSignatureSlot;
}

export interface CabFolderInfo {
  index: number;
  /** coffCabStart: offset of the first CFDATA. */
  dataOffset: number;
  /** cCFData. */
  blockCount: number;
  /** Quantum and LZX folders are listed but not extracted ('unsupported_compression'). */
  compression: CabCompression | 'quantum' | 'lzx';
}

export interface CabFileInfo {
  /** Name as stored, with '\\' separators. */
  name: string;
  size: number;
  folderIndex: number;
  /** uoffFolderStart: offset in the folder's uncompressed stream. */
  folderOffset: number;
  /** From the DOS date/time, read as UTC. */
  mtime: Date;
  /** attribs, including 0x80 NAME_IS_UTF when set. */
  attributes: number;
}

export interface CabDirectory {
  path: string;
  /** Size of the file on disk (cabinetBytes plus any appended signature). */
  fileBytes: number;
  header: CabHeaderInfo;
  folders: CabFolderInfo[];
  files: CabFileInfo[];
}

export interface ExtractedFile {
  name: string;
  /** Where it was written. */
  path: string;
  size: number;
}
