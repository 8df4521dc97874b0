/**
 * CFDATA, MS-CAB 2.4 (8 bytes plus CFHEADER.cbCFData reserve bytes, then the payload):
 *
 * | off | size | field     | notes                                                            |
 * |-----|------|-----------|------------------------------------------------------------------|
 * | 0   | 4    | csum      | checksum.ts; 0 means "not computed"                              |
 * | 4   | 2    | cbData    | payload bytes                                                    |
 * | 6   | 2    | cbUncomp  | uncompressed bytes, at most 32768 (0 only in multi-volume sets)  |
 * | 8   | n    | abReserve | cbCFData bytes                                                   |
 * | 8+n | m    | ab        | cbData payload bytes                                             |
 */
import { dataBlockChecksum } from './checksum.js';
import { cabError } from './errors.js';

export const CFDATA_FIXED_BYTES = 8;
/** Uncompressed bytes per block (MS-CAB 2.4; MS-MCI 2.1 for MSZIP). */
export const BLOCK_BYTES = 32768;
/** The largest payload accepted when reading: libmspack's CAB_INPUTMAX (32 KiB + 6 KiB). */
export const MAX_PAYLOAD_BYTES = BLOCK_BYTES + 6144;

export interface CfDataHeader {
  csum: number;
  cbData: number;
  cbUncomp: number;
}

/** The 8-byte header of a block without reserve, checksum included. */
export function encodeDataHeader(payload: Uint8Array, cbUncomp: number): Buffer {
  const out = Buffer.allocUnsafe(CFDATA_FIXED_BYTES);
  out.writeUInt32LE(dataBlockChecksum(payload, payload.length, cbUncomp), 0);
  out.writeUInt16LE(payload.length, 4);
  out.writeUInt16LE(cbUncomp, 6);
  return out;
}

/** Decodes a block header and checks its sizes; `where` names the block in messages. */
export function decodeDataHeader(buf: Buffer, where: string): CfDataHeader {
  const h = {
    csum: buf.readUInt32LE(0),
    cbData: buf.readUInt16LE(4),
    cbUncomp: buf.readUInt16LE(6),
  };
  if (h.cbUncomp === 0 || h.cbUncomp > BLOCK_BYTES) {
    throw cabError('bad_size', `${where}: cbUncomp ${h.cbUncomp} is not in 1..${BLOCK_BYTES}`);
  }
  if (h.cbData === 0 || h.cbData > MAX_PAYLOAD_BYTES) {
    throw cabError('bad_size', `${where}: cbData ${h.cbData} is not in 1..${MAX_PAYLOAD_BYTES}`);
  }
  return h;
}

/** Throws 'bad_checksum' when a non-zero csum does not match the payload. */
export function verifyDataChecksum(h: CfDataHeader, payload: Uint8Array, where: string): void {
  if (h.csum === 0) return;
  const actual = dataBlockChecksum(payload, h.cbData, h.cbUncomp);
  if (actual !== h.csum) {
    throw cabError(
      'bad_checksum',
      `${where}: checksum 0x${h.csum.toString(16)} does not match the data (0x${actual.toString(16)})`,
    );
  }
}
