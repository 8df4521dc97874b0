import { createHash, type Hash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { UpcatError } from '../../errors.js';
import { linkNew, partialPath, type CabSignOptions, type CabSignResult } from './cab-sign.js';
import { readCfbTree, type CfbNode, type CfbStorage } from './cfb-tree.js';
import { writeCfb } from './cfb-write.js';
import { integer, malformed, octets, seq, type Asn1 } from './der.js';
import { OID } from './oids.js';
import { parseAuthenticode } from './parse.js';
import { buildSignature } from './signature.js';
import { prepareSigner, type AuthenticodeSigner, type PreparedSigner } from './signer.js';
import {
  notSigned,
  trustAnchors,
  verdict,
  type TrustedCertificates,
  type VerifiedSignature,
  type VerifyOptions,
} from './verdict.js';

/**
 * Authenticode for MSI (compound file) packages, as osslsigncode msi.c and Windows compute it:
 * the PKCS#7 is the root stream "\x05DigitalSignature"; the digest covers every stream's
 * contents, storage by storage, children sorted by their raw UTF-16LE names (NUL included; on a
 * common prefix the longer name first), each storage followed by its CLSID; the two signature
 * streams of the root are left out. (MsiDigitalSignatureEx, the metadata pre-hash, is not
 * supported: such a signature is refused as malformed, and signing drops it.)
 *
 * Signing reads the package's tree and writes it again with cfb-write.ts plus the signature
 * stream, so every stream and CLSID the digest covers is carried unchanged; the sector layout
 * is new. The whole file is held in memory, so its size is bounded.
 */
const DIGITAL_SIGNATURE = '\u0005DigitalSignature';
const SIGNATURE_EX = '\u0005MsiDigitalSignatureEx';
export const MAX_MSI_BYTES = 1024 * 1024 * 1024;

/**
 * SpcSipInfo for MSI, as osslsigncode and signtool write it: version 1, the MSI SIP's GUID
 * {000C10F1-0000-0000-C000-000000000046} in its stored byte order, and five zero integers.
 */
const MSI_SIP_GUID = Buffer.from('f1100c0000000000c000000000000046', 'hex');

export async function signMsiFile(
  input: string,
  output: string,
  signer: AuthenticodeSigner | PreparedSigner,
  options: CabSignOptions & { maxBytes?: number } = {},
): Promise<CabSignResult> {
  const prepared = 'key' in signer ? signer : prepareSigner(signer, options.signingTime);
  const root = await readMsi(input, options.maxBytes);
  root.children = root.children.filter((c) => !isSignatureStream(c));
  const hash = createHash('sha256');
  hashStorage(hash, root, true);
  const digest = hash.digest();
  const der = buildSignature(
    { dataType: OID.spcSipInfo, dataValue: msiSipInfo(), digest },
    prepared,
    options.signingTime,
  );
  root.children.push({ type: 'stream', name: DIGITAL_SIGNATURE, content: der });
  const { chunks, size } = writeCfb(root);
  const partial = partialPath(output);
  try {
    await pipeline(Readable.from(chunks), createWriteStream(partial, { flags: 'wx' }));
    await linkNew(partial, output);
  } finally {
    await rm(partial, { force: true });
  }
  return { digest, size };
}

export async function verifyMsi(
  file: string,
  trusted: TrustedCertificates,
  options: VerifyOptions & { maxBytes?: number } = {},
): Promise<VerifiedSignature> {
  const anchors = trustAnchors(trusted);
  const root = await readMsi(file, options.maxBytes);
  const signature = root.children.find((c) => c.name === DIGITAL_SIGNATURE);
  if (signature?.type !== 'stream') throw notSigned(file);
  if (root.children.some((c) => c.name === SIGNATURE_EX))
    throw malformed('MsiDigitalSignatureEx (metadata pre-hash) is not supported');
  const parsed = parseAuthenticode(signature.content);
  if (parsed.dataType !== OID.spcSipInfo)
    throw malformed(`content type ${parsed.dataType} is not an MSI's (SPC_SIPINFO)`);
  const hash = createHash(parsed.fileDigestAlgorithm);
  hashStorage(hash, root, true);
  return verdict(parsed, hash.digest(), anchors, options);
}

async function readMsi(file: string, maxBytes = MAX_MSI_BYTES): Promise<CfbStorage> {
  const fh = await open(file, 'r');
  let bytes: Buffer;
  try {
    const { size } = await fh.stat();
    if (size > maxBytes)
      throw new UpcatError('too_large', `${file} is larger than the MSI size limit`);
    bytes = await fh.readFile();
  } finally {
    await fh.close();
  }
  return readCfbTree(bytes, file);
}

function isSignatureStream(node: CfbNode): boolean {
  return node.type === 'stream' && (node.name === DIGITAL_SIGNATURE || node.name === SIGNATURE_EX);
}

/** One storage: its sorted children's contents (recursively), then its CLSID (osslsigncode msi_hash_dir). */
function hashStorage(hash: Hash, storage: CfbStorage, isRoot: boolean): void {
  const children = storage.children
    .map((node) => ({ node, name: nameBytes(node.name) }))
    .sort((a, b) => compareNames(a.name, b.name));
  for (const { node } of children) {
    if (isRoot && isSignatureStream(node)) continue;
    if (node.type === 'stream') hash.update(node.content);
    else hashStorage(hash, node, false);
  }
  hash.update(storage.clsid);
}

/** The directory entry's name as stored: UTF-16LE with its NUL terminator. */
function nameBytes(name: string): Buffer {
  return Buffer.concat([Buffer.from(name, 'utf16le'), Buffer.alloc(2)]);
}

/** osslsigncode dirent_cmp_hash: bytewise over the common length, then the longer first. */
function compareNames(a: Buffer, b: Buffer): number {
  const n = Math.min(a.length, b.length);
  const d = Buffer.compare(a.subarray(0, n), b.subarray(0, n));
  if (d !== 0) return d;
  return a.length > b.length ? -1 : 1;
}

/** SpcSipInfo ::= SEQUENCE { a INTEGER, string OCTET STRING, b..f INTEGER } (osslsigncode). */
function msiSipInfo(): Asn1 {
  return seq([integer(1), octets(MSI_SIP_GUID), ...[0, 0, 0, 0, 0].map(integer)]);
}
