import { UpcatError, invalidInput } from '../../errors.js';
import { MAX_SIGNATURE_BYTES } from './cab-layout.js';

/**
 * Where an Authenticode signature lives in a PE image, and which bytes it covers (Microsoft
 * "PE Format" §"The Attribute Certificate Table (Image Only)", Authenticode PE format §"Calculating
 * the PE Image Hash"; the linear form osslsigncode pe.c uses, which equals the section-ordered
 * one for images whose sections are laid out in order).
 *
 * | offset (e = e_lfanew at 0x3C)    | field                                   | hashed |
 * |----------------------------------|-----------------------------------------|--------|
 * | 0 … e+88                         | DOS header, PE signature, COFF, optional header start | yes |
 * | e+88, 4 bytes                    | CheckSum                                | no     |
 * | e+92 … dir                       | rest of the optional header up to data directory 4 | yes |
 * | dir = e+152 (PE32) / e+168 (PE32+), 8 bytes | Certificate Table: file offset, size | no |
 * | dir+8 … end                      | other directories, section table, sections, overlay | yes |
 * | (unsigned) zero padding to 8     | becomes part of the file when signed    | yes    |
 * | end …                            | WIN_CERTIFICATE {dwLength, 0x0200, 0x0002, PKCS#7, pad to 8} | no |
 *
 * The signature must be the last thing in the file (MS12-024); CheckSum is recomputed afterwards.
 */
export interface PeLayout {
  fileSize: number;
  peOffset: number;
  checksumAt: number;
  certificateDirectoryAt: number;
  /** The current certificate table (0, 0 when unsigned). */
  table: { offset: number; size: number };
}

/** How much of the file parsePeHeader needs: e_lfanew is bounded to keep this small. */
export const PE_HEAD_BYTES = 64 * 1024 + 176 + 16;
const WIN_CERT_REVISION_2 = 0x0200;
const WIN_CERT_TYPE_PKCS_SIGNED_DATA = 0x0002;

export function parsePeHeader(head: Buffer, fileSize: number): PeLayout {
  if (fileSize < 64 || head.length < 64 || head.toString('latin1', 0, 2) !== 'MZ')
    throw invalidInput('not a PE image: no MZ header');
  const peOffset = head.readUInt32LE(60);
  if (peOffset < 44 || peOffset > 64 * 1024 || peOffset + 176 > fileSize)
    throw invalidInput('not a PE image: e_lfanew out of range');
  if (head.length < peOffset + 176 + 16) throw invalidInput('PE image headers are truncated');
  if (head.toString('latin1', peOffset, peOffset + 4) !== 'PE\0\0')
    throw invalidInput('not a PE image: no PE signature');
  const magic = head.readUInt16LE(peOffset + 24);
  if (magic !== 0x10b && magic !== 0x20b) throw invalidInput('PE optional header magic unknown');
  const wide = magic === 0x20b ? 16 : 0;
  if (head.readUInt32LE(peOffset + 116 + wide) < 5)
    throw invalidInput('PE image has no certificate table directory');
  const certificateDirectoryAt = peOffset + 152 + wide;
  return {
    fileSize,
    peOffset,
    checksumAt: peOffset + 88,
    certificateDirectoryAt,
    table: {
      offset: head.readUInt32LE(certificateDirectoryAt),
      size: head.readUInt32LE(certificateDirectoryAt + 4),
    },
  };
}

/** Where the signed range ends: the certificate table of a signed image, or the file's end. */
export function peSignedEnd(layout: PeLayout): number {
  const { offset, size } = layout.table;
  if (offset === 0 && size === 0) return layout.fileSize;
  const bad = (why: string): UpcatError =>
    new UpcatError('malformed_signature', `PE certificate table ${why}`, {
      details: { offset, size, fileSize: layout.fileSize },
    });
  if (offset === 0 || size < 8) throw bad('offset or size is zero');
  if (size > MAX_SIGNATURE_BYTES + 16) throw bad('size is absurd');
  if (offset < layout.certificateDirectoryAt + 8) throw bad('points into the headers');
  if (offset + size !== layout.fileSize) throw bad('is not at the end of the file');
  return offset;
}

/** The PKCS#7 inside the certificate table's first WIN_CERTIFICATE. */
export function pkcs7OfTable(table: Buffer): Buffer {
  const length = table.readUInt32LE(0);
  if (length < 8 || length > table.length) throw bad('WIN_CERTIFICATE length');
  if (table.readUInt16LE(4) !== WIN_CERT_REVISION_2 || table.readUInt16LE(6) !== 2)
    throw bad('WIN_CERTIFICATE is not a revision 2 PKCS#7 entry');
  return table.subarray(8, length);

  function bad(why: string): UpcatError {
    return new UpcatError('malformed_signature', `PE certificate table: ${why}`);
  }
}

/** WIN_CERTIFICATE { dwLength, wRevision 0x0200, wCertificateType PKCS_SIGNED_DATA, DER, zero pad to 8 }. */
export function winCertificate(der: Buffer): Buffer {
  const length = 8 + der.length;
  const entry = Buffer.alloc(Math.ceil(length / 8) * 8);
  entry.writeUInt32LE(entry.length, 0);
  entry.writeUInt16LE(WIN_CERT_REVISION_2, 4);
  entry.writeUInt16LE(WIN_CERT_TYPE_PKCS_SIGNED_DATA, 6);
  der.copy(entry, 8);
  return entry;
}

/**
 * The PE CheckSum (imagehlp CheckSumMappedFile): 16-bit little-endian words summed with end-around
 * carry, the CheckSum field read as zero, plus the file length. Fed in file order, chunk by chunk.
 */
export class PeChecksum {
  private sum = 0;
  private length = 0;
  private odd: number | undefined;

  constructor(private readonly checksumAt: number) {}

  update(chunk: Uint8Array): void {
    let i = 0;
    if (this.odd !== undefined && chunk.length > 0) {
      this.word(this.odd | ((chunk[0] as number) << 8), this.length - 1);
      this.odd = undefined;
      i = 1;
    }
    for (; i + 1 < chunk.length; i += 2)
      this.word((chunk[i] as number) | ((chunk[i + 1] as number) << 8), this.length + i);
    if (i < chunk.length) this.odd = chunk[i] as number;
    this.length += chunk.length;
  }

  digest(): number {
    // An odd last byte is ignored, as osslsigncode and imagehlp do; signed files are 8-aligned.
    const words = this.length - (this.length % 2);
    let s = this.sum;
    while (s > 0xffff) s = (s % 0x10000) + Math.floor(s / 0x10000);
    return (s + words) >>> 0;
  }

  /** A 16-bit word written after the stream was fed (the ones' complement sum is commutative). */
  add(value: number): void {
    this.sum += value;
  }

  private word(value: number, at: number): void {
    if (at === this.checksumAt || at === this.checksumAt + 2) return;
    this.sum += value;
  }
}
