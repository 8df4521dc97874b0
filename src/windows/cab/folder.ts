/**
 * CFFOLDER, MS-CAB 2.2 (8 bytes plus CFHEADER.cbCFFolder reserve bytes, which upcat skips):
 *
 * | off | size | field        | notes                                                 |
 * |-----|------|--------------|-------------------------------------------------------|
 * | 0   | 4    | coffCabStart | offset of the folder's first CFDATA                   |
 * | 4   | 2    | cCFData      | number of CFDATA blocks                               |
 * | 6   | 2    | typeCompress | low nibble: 0 none, 1 MSZIP, 2 Quantum, 3 LZX         |
 * | 8   | n    | abReserve    | cbCFFolder bytes                                      |
 */
import { cabError } from './errors.js';
import type { CabCompression } from './types.js';

export const CFFOLDER_BYTES = 8;
/** cCFData is a u16: a folder holds at most this many blocks (MS-CAB 2.2). */
export const MAX_BLOCKS_PER_FOLDER = 0xffff;
export const MAX_FOLDERS = 0xffff;

export type FolderCompression = CabCompression | 'quantum' | 'lzx';

const TYPE_CODES: Record<CabCompression, number> = { none: 0, mszip: 1 };

export interface CfFolder {
  coffCabStart: number;
  cCFData: number;
  compression: FolderCompression;
}

export function encodeFolder(f: {
  coffCabStart: number;
  cCFData: number;
  compression: CabCompression;
}): Buffer {
  const out = Buffer.alloc(CFFOLDER_BYTES);
  out.writeUInt32LE(f.coffCabStart, 0);
  out.writeUInt16LE(f.cCFData, 4);
  out.writeUInt16LE(TYPE_CODES[f.compression], 6);
  return out;
}

/** Decodes the folder at `offset` of `buf`; the caller has checked that the bytes are there. */
export function decodeFolder(buf: Buffer, offset: number, index: number): CfFolder {
  const typeCompress = buf.readUInt16LE(offset + 6);
  return {
    coffCabStart: buf.readUInt32LE(offset),
    cCFData: buf.readUInt16LE(offset + 4),
    compression: compressionOf(typeCompress, index),
  };
}

function compressionOf(typeCompress: number, index: number): FolderCompression {
  switch (typeCompress & 0x000f) {
    case 0:
      return 'none';
    case 1:
      return 'mszip';
    case 2:
      return 'quantum';
    case 3:
      return 'lzx';
    default:
      throw cabError(
        'unsupported_compression',
        `folder ${index} has unknown typeCompress 0x${typeCompress.toString(16)}`,
        {
          folder: index,
        },
      );
  }
}
