import { createHash, randomBytes, type Hash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { link, open, rm, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { UpcatError, errnoCode, invalidInput } from '../../errors.js';
import {
  MAX_SIGNATURE_BYTES,
  SIGNED_HEADER_SIZE,
  hashedParts,
  paddedSignature,
  parseCabHeader,
  signedEnd,
  signedPrefix,
  type CabHeader,
} from './cab-layout.js';
import { OID } from './oids.js';
import { buildSignature, obsoleteLink } from './signature.js';
import { prepareSigner, type AuthenticodeSigner, type PreparedSigner } from './signer.js';

/**
 * Authenticode signing of cabinets (research/interop.md §4). Large cabinets are never held in
 * memory: the digest is streamed, and a cabinet that already has the signature reserve is signed
 * in place (two header fields patched, the signature appended) instead of copied.
 */
export interface CabSignOptions {
  signingTime?: Date;
}

export interface CabSignResult {
  /** The Authenticode digest (SHA-256) the signature covers. */
  digest: Buffer;
  /** Size of the signed cabinet. */
  size: number;
}

const CHUNK = 1024 * 1024;

/** Signs a cabinet held in memory (a catalog CAB of a few megabytes); returns the signed bytes. */
export function signCabBytes(
  cab: Buffer,
  signer: AuthenticodeSigner | PreparedSigner,
  options: CabSignOptions = {},
): Buffer {
  const header = parseCabHeader(cab.subarray(0, SIGNED_HEADER_SIZE), cab.length);
  const end = signedEnd(header);
  const body = cab.subarray(header.coffFiles, end);
  const { prefix, hashed } = signedPrefix(header, cab.subarray(0, header.coffFiles), body.length);
  const hash = createHash('sha256');
  for (const part of [...hashed, body]) hash.update(part);
  const digest = hash.digest();
  const signature = cabSignature(digest, signer, options);
  prefix.writeUInt32LE(signature.length, 48);
  return Buffer.concat([prefix, body, signature]);
}

/**
 * Signs `input` into a new file `output` (refused if it exists), in one streamed pass: the reserve
 * is inserted when missing, an existing signature is replaced.
 */
export async function signCabFile(
  input: string,
  output: string,
  signer: AuthenticodeSigner | PreparedSigner,
  options: CabSignOptions = {},
): Promise<CabSignResult> {
  const prepared = asPrepared(signer, options);
  const source = await open(input, 'r');
  const partial = partialPath(output);
  try {
    const { header, prefix: inputPrefix } = await readPrefix(source);
    const end = signedEnd(header);
    const { prefix, hashed } = signedPrefix(header, inputPrefix, end - header.coffFiles);
    const hash = createHash('sha256');
    for (const part of hashed) hash.update(part);
    const body = rangeStream(source, header.coffFiles, end);
    await pipeline(
      async function* () {
        yield prefix;
        for await (const chunk of body) {
          hash.update(chunk as Buffer);
          yield chunk as Buffer;
        }
      },
      createWriteStream(partial, { flags: 'wx' }),
    );
    const digest = hash.digest();
    const signature = cabSignature(digest, prepared, options);
    const out = await open(partial, 'r+');
    try {
      await out.write(signature, 0, signature.length, end + prefix.length - header.coffFiles);
      await out.write(u32(signature.length), 0, 4, 48);
      await out.sync();
    } finally {
      await out.close();
    }
    await linkNew(partial, output);
    return { digest, size: prefix.length + (end - header.coffFiles) + signature.length };
  } finally {
    await source.close();
    await rm(partial, { force: true });
  }
}

/**
 * Signs a cabinet that already has the 20-byte signature reserve (upcat's CAB writer makes
 * it) where it lies: one read pass for the digest, then the signature appended and the
 * offset/length fields patched. A previous signature is cut off first.
 */
export async function signCabInPlace(
  file: string,
  signer: AuthenticodeSigner | PreparedSigner,
  options: CabSignOptions = {},
): Promise<CabSignResult> {
  const prepared = asPrepared(signer, options);
  const fh = await open(file, 'r+');
  try {
    const { header, prefix } = await readPrefix(fh);
    if (header.reserve === undefined)
      throw invalidInput(
        `${file} has no signature reserve: sign it into a new file (signCabFile) instead`,
      );
    const end = signedEnd(header);
    const hash = createHash('sha256');
    for (const part of hashedParts(prefix)) hash.update(part);
    await hashRange(hash, fh, header.coffFiles, end);
    const digest = hash.digest();
    const signature = cabSignature(digest, prepared, options);
    await fh.truncate(end);
    await fh.write(signature, 0, signature.length, end);
    const fields = Buffer.concat([u32(end), u32(signature.length)]);
    await fh.write(fields, 0, fields.length, 44);
    await fh.sync();
    return { digest, size: end + signature.length };
  } finally {
    await fh.close();
  }
}

/** The padded PKCS#7 block for a cabinet whose Authenticode digest is `digest`. */
export function cabSignature(
  digest: Buffer,
  signer: AuthenticodeSigner | PreparedSigner,
  options: CabSignOptions = {},
): Buffer {
  const signingTime = options.signingTime ?? new Date();
  const der = buildSignature(
    { dataType: OID.spcCabData, dataValue: obsoleteLink(), digest },
    asPrepared(signer, options),
    signingTime,
  );
  if (der.length > MAX_SIGNATURE_BYTES)
    throw new UpcatError('invalid_config', 'the publisher chain makes an oversized signature');
  return paddedSignature(der);
}

/** The header and folder table, bytes [0, coffFiles): at most 60 + 8·65535 bytes. */
export async function readPrefix(fh: FileHandle): Promise<{ header: CabHeader; prefix: Buffer }> {
  const { size } = await fh.stat();
  const head = Buffer.alloc(Math.min(size, SIGNED_HEADER_SIZE));
  await fh.read(head, 0, head.length, 0);
  const header = parseCabHeader(head, size);
  const prefix = Buffer.alloc(header.coffFiles);
  const { bytesRead } = await fh.read(prefix, 0, prefix.length, 0);
  if (bytesRead !== prefix.length) throw invalidInput('cabinet changed while it was read');
  return { header, prefix };
}

/** Streams [start, end) of an open file into `hash`. */
export async function hashRange(
  hash: Hash,
  fh: FileHandle,
  start: number,
  end: number,
): Promise<void> {
  for await (const chunk of rangeStream(fh, start, end)) hash.update(chunk as Buffer);
}

function rangeStream(fh: FileHandle, start: number, end: number): AsyncIterable<unknown> {
  if (end <= start) return (async function* () {})();
  return fh.createReadStream({ start, end: end - 1, highWaterMark: CHUNK, autoClose: false });
}

function asPrepared(
  signer: AuthenticodeSigner | PreparedSigner,
  options: CabSignOptions,
): PreparedSigner {
  return 'key' in signer ? signer : prepareSigner(signer, options.signingTime);
}

/** A hidden temporary name beside `output`, on the same file system (for link/rename). */
export function partialPath(output: string): string {
  const name = `.${path.basename(output)}.partial-${randomBytes(6).toString('hex')}`;
  return path.join(path.dirname(output), name);
}

/** Publishes a finished file under `target` only if nothing is there (no clobbering). */
export async function linkNew(from: string, target: string): Promise<void> {
  try {
    await link(from, target);
  } catch (err) {
    if (errnoCode(err) === 'EEXIST') throw invalidInput(`${target} already exists`);
    throw err;
  }
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}
