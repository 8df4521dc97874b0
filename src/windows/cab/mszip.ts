/**
 * MSZIP blocks (MS-MCI 2; interop.md 3): each CFDATA payload is "CK" followed by one complete
 * raw-deflate stream (RFC 1951, last block BFINAL) of at most 32 KiB of input. Huffman trees
 * restart per block but the 32 KiB history carries over within a folder, which zlib models as
 * a preset dictionary: the previous 32 KiB of the folder's uncompressed stream.
 *
 * Compression runs on zlib's thread pool (async), so several blocks of one folder compress at
 * once: block k needs only the uncompressed block k-1, never the compressed output of k-1.
 */
import { deflateRaw, inflateRaw, constants, type ZlibOptions } from 'node:zlib';
import { BLOCK_BYTES } from './data-block.js';
import { cabError } from './errors.js';

const CK = Buffer.from('CK', 'latin1');

function zlibCall(fn: typeof deflateRaw, input: Buffer, options: ZlibOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    fn(input, options, (err, out) => (err === null ? resolve(out) : reject(err)));
  });
}

/** The payload of one MSZIP block: "CK" + deflate of `chunk` with `history` as dictionary. */
export async function compressMszipBlock(
  chunk: Buffer,
  history: Buffer | undefined,
  level: number,
): Promise<Buffer> {
  const options: ZlibOptions = { level, windowBits: 15, memLevel: 8 };
  if (history !== undefined && history.length > 0) options.dictionary = history;
  const deflated = await zlibCall(deflateRaw, chunk, options);
  return Buffer.concat([CK, deflated], CK.length + deflated.length);
}

/** Inflates one MSZIP payload to exactly `expected` bytes, with the folder's history so far. */
export async function decompressMszipBlock(
  payload: Buffer,
  history: Buffer | undefined,
  expected: number,
  where: string,
): Promise<Buffer> {
  if (payload.length < 2 || payload[0] !== 0x43 || payload[1] !== 0x4b) {
    throw cabError('bad_data', `${where}: MSZIP block does not start with "CK"`);
  }
  const options: ZlibOptions = {
    windowBits: 15,
    // One block never yields more than 32 KiB: stop a deflate bomb at the first byte past it.
    maxOutputLength: BLOCK_BYTES,
    finishFlush: constants.Z_SYNC_FLUSH,
  };
  if (history !== undefined && history.length > 0) options.dictionary = history;
  let out: Buffer;
  try {
    out = await zlibCall(inflateRaw, payload.subarray(2), options);
  } catch (err) {
    throw cabError('bad_data', `${where}: MSZIP data does not inflate (${(err as Error).message})`);
  }
  if (out.length !== expected) {
    throw cabError(
      'bad_data',
      `${where}: MSZIP block gave ${out.length} bytes, cbUncomp says ${expected}`,
    );
  }
  return out;
}
