/**
 * The zip writer of `upcat package`: the bytes zip-stream 7 (archiver's zip engine, through
 * compress-commons 7) wrote for the options package.ts used, so that a package rebuilt by this
 * version is hash-identical to one built before (package.ts explains why that matters). Written
 * here because zip-stream and its readable-stream copy cost more CPU to load than the whole rest
 * of `upcat package` does (issue 16: a CLI that starts like a tool).
 *
 * What it writes, entry by entry: a local header (version 20, flags: data descriptor, plus UTF-8
 * when the name is not ASCII; method deflate; the DOS time; zero CRC and sizes; no extra field),
 * the raw deflate stream (level 6), and a data descriptor (signature, CRC, compressed and plain
 * size; 8-byte sizes for an entry over 4 GiB). Then the central directory (made by 0x032d, unix;
 * external attributes: mode | S_IFREG in the high half, DOS archive bit; for an entry over 4 GiB
 * or at an offset over 4 GiB the sizes and offset 0xffffffff, version 45 and a ZIP64 extra field)
 * and its end record, preceded by the ZIP64 end record and locator when the archive needs them.
 */
import { createDeflateRaw } from 'node:zlib';
import * as zlib from 'node:zlib';
import { Readable } from 'node:stream';

export interface ZipEntry {
  /** A checked relative path, `/`-separated. */
  name: string;
  /** Unix permission bits (0o755 or 0o644 here). */
  mode: number;
  /** The entry's bytes. */
  source: Buffer | AsyncIterable<Buffer>;
}

const SIG_LFH = 0x04034b50;
const SIG_DD = 0x08074b50;
const SIG_CFH = 0x02014b50;
const SIG_EOCD = 0x06054b50;
const SIG_ZIP64_EOCD = 0x06064b50;
const SIG_ZIP64_EOCD_LOC = 0x07064b50;
const VERSION_DATA_DESCRIPTOR = 20;
const VERSION_ZIP64 = 45;
const MADE_BY_UNIX = (3 << 8) | 45;
const FLAG_DATA_DESCRIPTOR = 0x0008;
const FLAG_UTF8 = 0x0800;
const METHOD_DEFLATED = 8;
const S_IFREG = 0o100000;
const S_DOS_A = 32;
const ZIP64_MAGIC = 0xffffffff;
const ZIP64_MAGIC_SHORT = 0xffff;
const DEFLATE_LEVEL = 6;

interface Written {
  name: Buffer;
  flags: number;
  time: number;
  mode: number;
  crc: number;
  size: number;
  csize: number;
  offset: number;
}

/** zip-stream's DOS time of a date, from its UTC fields, clamped to 1980-2043. */
export function dosTime(d: Date): number {
  const year = d.getUTCFullYear();
  if (year < 1980) return 2162688;
  if (year >= 2044) return 2141175677;
  return (
    (((year - 1980) << 25) |
      ((d.getUTCMonth() + 1) << 21) |
      (d.getUTCDate() << 16) |
      (d.getUTCHours() << 11) |
      (d.getUTCMinutes() << 5) |
      (d.getUTCSeconds() / 2)) >>>
    0
  );
}

/** The zip's bytes, in order, for entries all dated `date`. */
export async function* zipBytes(
  entries: AsyncIterable<ZipEntry> | Iterable<ZipEntry>,
  date: Date,
): AsyncGenerator<Buffer> {
  const time = dosTime(date);
  const written: Written[] = [];
  let offset = 0;
  for await (const entry of entries) {
    const name = Buffer.from(entry.name, 'utf8');
    const flags = FLAG_DATA_DESCRIPTOR | (name.length !== entry.name.length ? FLAG_UTF8 : 0);
    const header = localHeader(name, flags, time);
    const w: Written = { name, flags, time, mode: entry.mode, crc: 0, size: 0, csize: 0, offset };
    yield header;
    offset += header.length;
    for await (const chunk of deflated(entry.source, w)) {
      offset += chunk.length;
      yield chunk;
    }
    const descriptor = dataDescriptor(w);
    offset += descriptor.length;
    yield descriptor;
    written.push(w);
  }
  const centralOffset = offset;
  for (const w of written) {
    const header = centralHeader(w);
    offset += header.length;
    yield header;
  }
  yield* end(written.length, centralOffset, offset - centralOffset);
}

/** The entry's bytes deflated; its CRC and sizes are set on `w` as they pass. */
async function* deflated(source: ZipEntry['source'], w: Written): AsyncGenerator<Buffer> {
  const input = Readable.from(counted(source, w), { objectMode: false });
  const deflate = createDeflateRaw({ level: DEFLATE_LEVEL });
  input.once('error', (err) => deflate.destroy(err));
  input.pipe(deflate);
  try {
    for await (const chunk of deflate as AsyncIterable<Buffer>) {
      w.csize += chunk.length;
      yield chunk;
    }
  } finally {
    // A failure on either side: the source is closed too (its reader's file handle with it).
    input.destroy();
  }
}

async function* counted(source: ZipEntry['source'], w: Written): AsyncGenerator<Buffer> {
  for await (const chunk of Buffer.isBuffer(source) ? [source] : source) {
    w.crc = crc32(chunk, w.crc);
    w.size += chunk.length;
    yield chunk;
  }
}

function localHeader(name: Buffer, flags: number, time: number): Buffer {
  const b = Buffer.alloc(30 + name.length);
  b.writeUInt32LE(SIG_LFH, 0);
  b.writeUInt16LE(VERSION_DATA_DESCRIPTOR, 4);
  b.writeUInt16LE(flags, 6);
  b.writeUInt16LE(METHOD_DEFLATED, 8);
  b.writeUInt32LE(time, 10);
  // CRC and sizes (14-25) stay zero: they follow the data, in the data descriptor.
  b.writeUInt16LE(name.length, 26);
  b.writeUInt16LE(0, 28);
  name.copy(b, 30);
  return b;
}

const isZip64Entry = (w: Written): boolean => w.size > ZIP64_MAGIC || w.csize > ZIP64_MAGIC;

function dataDescriptor(w: Written): Buffer {
  const wide = isZip64Entry(w);
  const b = Buffer.alloc(wide ? 24 : 16);
  b.writeUInt32LE(SIG_DD, 0);
  b.writeUInt32LE(w.crc, 4);
  if (wide) {
    writeEight(b, w.csize, 8);
    writeEight(b, w.size, 16);
  } else {
    b.writeUInt32LE(w.csize, 8);
    b.writeUInt32LE(w.size, 12);
  }
  return b;
}

function centralHeader(w: Written): Buffer {
  const wide = isZip64Entry(w) || w.offset > ZIP64_MAGIC;
  const extra = Buffer.alloc(wide ? 28 : 0);
  if (wide) {
    extra.writeUInt16LE(0x0001, 0);
    extra.writeUInt16LE(24, 2);
    writeEight(extra, w.size, 4);
    writeEight(extra, w.csize, 12);
    writeEight(extra, w.offset, 20);
  }
  const b = Buffer.alloc(46 + w.name.length + extra.length);
  b.writeUInt32LE(SIG_CFH, 0);
  b.writeUInt16LE(MADE_BY_UNIX, 4);
  b.writeUInt16LE(wide ? VERSION_ZIP64 : VERSION_DATA_DESCRIPTOR, 6);
  b.writeUInt16LE(w.flags, 8);
  b.writeUInt16LE(METHOD_DEFLATED, 10);
  b.writeUInt32LE(w.time, 12);
  b.writeUInt32LE(w.crc, 16);
  b.writeUInt32LE(wide ? ZIP64_MAGIC : w.csize, 20);
  b.writeUInt32LE(wide ? ZIP64_MAGIC : w.size, 24);
  b.writeUInt16LE(w.name.length, 28);
  b.writeUInt16LE(extra.length, 30);
  // Comment length, disk number and internal attributes (32-37) stay zero.
  b.writeUInt32LE((((w.mode | S_IFREG) << 16) | S_DOS_A) >>> 0, 38);
  b.writeUInt32LE(wide ? ZIP64_MAGIC : w.offset, 42);
  w.name.copy(b, 46);
  extra.copy(b, 46 + w.name.length);
  return b;
}

/** The end of central directory record, after the ZIP64 one and its locator when needed. */
function* end(count: number, centralOffset: number, centralLength: number): Generator<Buffer> {
  const zip64 =
    count > ZIP64_MAGIC_SHORT || centralLength > ZIP64_MAGIC || centralOffset > ZIP64_MAGIC;
  if (zip64) {
    const b = Buffer.alloc(56 + 20);
    b.writeUInt32LE(SIG_ZIP64_EOCD, 0);
    writeEight(b, 44, 4);
    b.writeUInt16LE(VERSION_ZIP64, 12);
    b.writeUInt16LE(VERSION_ZIP64, 14);
    // Disk numbers (16-23) stay zero.
    writeEight(b, count, 24);
    writeEight(b, count, 32);
    writeEight(b, centralLength, 40);
    writeEight(b, centralOffset, 48);
    b.writeUInt32LE(SIG_ZIP64_EOCD_LOC, 56);
    writeEight(b, centralOffset + centralLength, 64);
    b.writeUInt32LE(1, 72);
    yield b;
  }
  const b = Buffer.alloc(22);
  b.writeUInt32LE(SIG_EOCD, 0);
  b.writeUInt16LE(zip64 ? ZIP64_MAGIC_SHORT : count, 8);
  b.writeUInt16LE(zip64 ? ZIP64_MAGIC_SHORT : count, 10);
  b.writeUInt32LE(zip64 ? ZIP64_MAGIC : centralLength, 12);
  b.writeUInt32LE(zip64 ? ZIP64_MAGIC : centralOffset, 16);
  yield b;
}

function writeEight(b: Buffer, v: number, at: number): void {
  b.writeUInt32LE(v % 0x100000000, at);
  b.writeUInt32LE(Math.floor(v / 0x100000000), at + 4);
}

/** zlib's CRC-32 (Node 20.15 and later), else a table-driven one of the same polynomial. */
const crc32: (data: Buffer, value: number) => number =
  typeof zlib.crc32 === 'function' ? zlib.crc32 : tableCrc32;

let table: Uint32Array | undefined;

function tableCrc32(data: Buffer, value: number): number {
  if (table === undefined) {
    table = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      table[n] = c >>> 0;
    }
  }
  let crc = ~value;
  for (const byte of data) crc = (table[(crc ^ byte) & 0xff] ?? 0) ^ (crc >>> 8);
  return ~crc >>> 0;
}
