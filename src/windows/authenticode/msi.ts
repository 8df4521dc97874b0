import { createHash, type Hash } from 'node:crypto';
import { open } from 'node:fs/promises';
import CFB from 'cfb';
import { UpcatError, invalidInput } from '../../errors.js';
import { malformed } from './der.js';
import { OID } from './oids.js';
import { parseAuthenticode } from './parse.js';
import {
  notSigned,
  trustAnchors,
  verdict,
  type TrustedCertificates,
  type VerifiedSignature,
  type VerifyOptions,
} from './verdict.js';

/**
 * Verification of an MSI (compound file) Authenticode signature, as osslsigncode msi.c and
 * Windows compute it: the PKCS#7 is the root stream "\x05DigitalSignature"; the digest covers
 * every non-empty stream's contents, storage by storage, children sorted by their raw UTF-16LE
 * names (NUL included; on a common prefix the longer name first), each storage followed by its
 * CLSID; the two signature streams of the root are left out. (MsiDigitalSignatureEx, the
 * metadata pre-hash, is not supported: such a signature is refused as malformed.)
 *
 * Only verification: signing would need a compound-file writer that adds nothing but the
 * signature stream, and the `cfb` package always adds its own "\x01Sh33tJ5" stream.
 * `cfb` reads the whole file, so the size is bounded.
 */
const DIGITAL_SIGNATURE = '\u0005DigitalSignature';
const SIGNATURE_EX = '\u0005MsiDigitalSignatureEx';
export const MAX_MSI_BYTES = 1024 * 1024 * 1024;

export async function verifyMsi(
  file: string,
  trusted: TrustedCertificates,
  options: VerifyOptions & { maxBytes?: number } = {},
): Promise<VerifiedSignature> {
  const anchors = trustAnchors(trusted);
  const fh = await open(file, 'r');
  let bytes: Buffer;
  try {
    const { size } = await fh.stat();
    if (size > (options.maxBytes ?? MAX_MSI_BYTES))
      throw new UpcatError('too_large', `${file} is larger than the MSI verification limit`);
    bytes = await fh.readFile();
  } finally {
    await fh.close();
  }
  let container: CFB.CFB$Container;
  try {
    container = CFB.read(bytes, { type: 'buffer' });
  } catch (err) {
    throw new UpcatError('invalid_input', `${file} is not a compound file (MSI)`, { cause: err });
  }
  const root = container.FullPaths[0];
  if (root === undefined) throw invalidInput(`${file} has no root storage`);
  const signature = entry(container, root + DIGITAL_SIGNATURE);
  if (signature === undefined) throw notSigned(file);
  if (entry(container, root + SIGNATURE_EX) !== undefined)
    throw malformed('MsiDigitalSignatureEx (metadata pre-hash) is not supported');
  const parsed = parseAuthenticode(Buffer.from(signature.content));
  if (parsed.dataType !== OID.spcSipInfo)
    throw malformed(`content type ${parsed.dataType} is not an MSI's (SPC_SIPINFO)`);
  const hash = createHash(parsed.fileDigestAlgorithm);
  hashStorage(hash, container, root, true);
  return verdict(parsed, hash.digest(), anchors, options);
}

/** One storage: its sorted children's contents (recursively), then its CLSID. */
function hashStorage(
  hash: Hash,
  container: CFB.CFB$Container,
  path: string,
  isRoot: boolean,
): void {
  const children = container.FullPaths.map((p, i) => ({ p, e: container.FileIndex[i] }))
    .filter(({ p }) => p !== path && p.startsWith(path) && isDirectChild(p.slice(path.length)))
    .map(({ p, e }) => ({ p, e: e as CFB.CFB$Entry, name: nameBytes(e as CFB.CFB$Entry) }))
    .sort((a, b) => compareNames(a.name, b.name));
  for (const { p, e } of children) {
    if (isRoot && (e.name === DIGITAL_SIGNATURE || e.name === SIGNATURE_EX)) continue;
    if (e.type === 2 && e.size > 0) hash.update(Buffer.from(e.content));
    if (e.type === 1) hashStorage(hash, container, p, false);
  }
  // A missing or short CLSID counts as zeros (16 bytes either way).
  const clsid = Buffer.alloc(16);
  Buffer.from(entry(container, path)?.clsid ?? '', 'hex').copy(clsid);
  hash.update(clsid);
}

function isDirectChild(rest: string): boolean {
  return rest.length > 0 && !rest.replace(/\/$/, '').includes('/');
}

function entry(container: CFB.CFB$Container, path: string): CFB.CFB$Entry | undefined {
  const i = container.FullPaths.findIndex((p) => p === path || p === `${path}/`);
  return i < 0 ? undefined : container.FileIndex[i];
}

/** The directory entry's name as stored: UTF-16LE with its NUL terminator. */
function nameBytes(e: CFB.CFB$Entry): Buffer {
  return Buffer.concat([Buffer.from(e.name, 'utf16le'), Buffer.alloc(2)]);
}

/** osslsigncode dirent_cmp_hash: bytewise over the common length, then the longer first. */
function compareNames(a: Buffer, b: Buffer): number {
  const n = Math.min(a.length, b.length);
  const d = Buffer.compare(a.subarray(0, n), b.subarray(0, n));
  if (d !== 0) return d;
  return a.length > b.length ? -1 : 1;
}
