import { createHash, type Hash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { open, rm, type FileHandle } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import forge from 'node-forge';
import { context, malformed, seq, type Asn1 } from './der.js';
import {
  hashRange,
  linkNew,
  partialPath,
  type CabSignOptions,
  type CabSignResult,
} from './cab-sign.js';
import { OID } from './oids.js';
import { parseAuthenticode } from './parse.js';
import {
  PE_HEAD_BYTES,
  PeChecksum,
  parsePeHeader,
  peSignedEnd,
  pkcs7OfTable,
  winCertificate,
  type PeLayout,
} from './pe-layout.js';
import { buildSignature, obsoleteLink } from './signature.js';
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
 * Authenticode for PE images (.exe, .dll, .sys), as osslsigncode writes it: the digest of
 * pe-layout.ts's ranges streamed, SpcPeImageData (no page hashes) as the indirect data, the
 * WIN_CERTIFICATE appended after zero padding to 8, then the certificate directory and CheckSum
 * patched. An existing signature is replaced.
 */
export async function signPeFile(
  input: string,
  output: string,
  signer: AuthenticodeSigner | PreparedSigner,
  options: CabSignOptions = {},
): Promise<CabSignResult> {
  const prepared = 'key' in signer ? signer : prepareSigner(signer, options.signingTime);
  const source = await open(input, 'r');
  const partial = partialPath(output);
  try {
    const { layout, head } = await readPeHead(source);
    const end = peSignedEnd(layout);
    const padding = Buffer.alloc((8 - (end % 8)) % 8);
    const dir = layout.certificateDirectoryAt;
    const header = Buffer.from(head.subarray(0, dir + 8));
    header.fill(0, layout.checksumAt, layout.checksumAt + 4);
    header.writeUInt32LE(end + padding.length, dir);
    header.writeUInt32LE(0, dir + 4); // the table's size is added to the checksum below
    const hash = createHash('sha256');
    hashHeader(hash, header, layout);
    const checksum = new PeChecksum(layout.checksumAt);
    checksum.update(header);
    const body = source.createReadStream({ start: dir + 8, end: end - 1, autoClose: false });
    await pipeline(
      async function* () {
        yield header;
        if (end > dir + 8)
          for await (const chunk of body) {
            hash.update(chunk as Buffer);
            checksum.update(chunk as Buffer);
            yield chunk as Buffer;
          }
        hash.update(padding);
        checksum.update(padding);
        yield padding;
      },
      createWriteStream(partial, { flags: 'wx' }),
    );
    const digest = hash.digest();
    const der = buildSignature(
      { dataType: OID.spcPeImageData, dataValue: peImageData(), digest },
      prepared,
      options.signingTime,
    );
    const table = winCertificate(der);
    checksum.update(table);
    checksum.add(table.length & 0xffff);
    checksum.add(table.length >>> 16);
    const fields = Buffer.alloc(4);
    const out = await open(partial, 'r+');
    try {
      await out.write(table, 0, table.length, end + padding.length);
      fields.writeUInt32LE(table.length);
      await out.write(fields, 0, 4, dir + 4);
      fields.writeUInt32LE(checksum.digest());
      await out.write(fields, 0, 4, layout.checksumAt);
      await out.sync();
    } finally {
      await out.close();
    }
    await linkNew(partial, output);
    return { digest, size: end + padding.length + table.length };
  } finally {
    await source.close();
    await rm(partial, { force: true });
  }
}

export async function verifyPe(
  file: string,
  trusted: TrustedCertificates,
  options: VerifyOptions = {},
): Promise<VerifiedSignature> {
  const anchors = trustAnchors(trusted);
  const fh = await open(file, 'r');
  try {
    const { layout, head } = await readPeHead(fh);
    if (layout.table.offset === 0 && layout.table.size === 0) throw notSigned(file);
    const end = peSignedEnd(layout);
    const table = Buffer.alloc(layout.fileSize - end);
    const { bytesRead } = await fh.read(table, 0, table.length, end);
    if (bytesRead !== table.length) throw malformed('certificate table truncated');
    const parsed = parseAuthenticode(pkcs7OfTable(table));
    if (parsed.dataType !== OID.spcPeImageData)
      throw malformed(`content type ${parsed.dataType} is not a PE image's (SPC_PE_IMAGE_DATA)`);
    const hash = createHash(parsed.fileDigestAlgorithm);
    hashHeader(hash, head, layout);
    await hashRange(hash, fh, layout.certificateDirectoryAt + 8, end);
    return verdict(parsed, hash.digest(), anchors, options);
  } finally {
    await fh.close();
  }
}

/** Headers up to the certificate directory, without CheckSum and the directory itself. */
function hashHeader(hash: Hash, head: Buffer, layout: PeLayout): void {
  hash.update(head.subarray(0, layout.checksumAt));
  hash.update(head.subarray(layout.checksumAt + 4, layout.certificateDirectoryAt));
}

async function readPeHead(fh: FileHandle): Promise<{ layout: PeLayout; head: Buffer }> {
  const { size } = await fh.stat();
  const head = Buffer.alloc(Math.min(size, PE_HEAD_BYTES));
  await fh.read(head, 0, head.length, 0);
  const layout = parsePeHeader(head, size);
  return { layout, head: head.subarray(0, layout.certificateDirectoryAt + 8) };
}

/** SpcPeImageData ::= SEQUENCE { flags SpcPeImageFlags (BIT STRING), file [0] EXPLICIT SpcLink }. */
function peImageData(): Asn1 {
  // includeResources (bit 0) set, as osslsigncode and signtool write it: 03 02 07 80.
  const flags = forge.asn1.create(
    forge.asn1.Class.UNIVERSAL,
    forge.asn1.Type.BITSTRING,
    false,
    '\x07\x80',
  );
  return seq([flags, context(0, true, [obsoleteLink()])]);
}
