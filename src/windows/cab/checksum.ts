/**
 * The cabinet checksum (MS-CAB 2.4 CFDATA.csum; the algorithm is the one libmspack's
 * cabd_checksum and gcab implement): XOR of the input taken as little-endian u32 words, the
 * 1-3 trailing bytes folded into one word most significant first. The only place it is computed.
 */
import { endianness } from 'node:os';

const LITTLE_ENDIAN = endianness() === 'LE';

export function cabChecksum(data: Uint8Array, seed = 0): number {
  let csum = seed | 0;
  const words = data.length >>> 2;
  if (LITTLE_ENDIAN && (data.byteOffset & 3) === 0) {
    // Aligned view: one XOR per word, no byte assembly (the writer's hot path).
    const view = new Int32Array(data.buffer, data.byteOffset, words);
    for (let i = 0; i < words; i++) csum ^= view[i] as number;
  } else {
    for (let i = 0, p = 0; i < words; i++, p += 4) {
      csum ^=
        (data[p] as number) |
        ((data[p + 1] as number) << 8) |
        ((data[p + 2] as number) << 16) |
        ((data[p + 3] as number) << 24);
    }
  }
  const p = words << 2;
  const rest = data.length & 3;
  let tail = 0;
  if (rest === 3) {
    tail = ((data[p] as number) << 16) | ((data[p + 1] as number) << 8) | (data[p + 2] as number);
  } else if (rest === 2) {
    tail = ((data[p] as number) << 8) | (data[p + 1] as number);
  } else if (rest === 1) {
    tail = data[p] as number;
  }
  return (csum ^ tail) >>> 0;
}

/**
 * The checksum stored in CFDATA.csum: the payload first, then the 4 bytes cbData+cbUncomp
 * seeded with that result (MS-CAB 2.4; the per-block reserve is not covered, as in libmspack).
 */
export function dataBlockChecksum(payload: Uint8Array, cbData: number, cbUncomp: number): number {
  const sizes = Buffer.alloc(4);
  sizes.writeUInt16LE(cbData, 0);
  sizes.writeUInt16LE(cbUncomp, 2);
  return cabChecksum(sizes, cabChecksum(payload, 0));
}
