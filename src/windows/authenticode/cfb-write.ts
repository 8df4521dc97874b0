import { invalidInput } from '../../errors.js';
import { MAX_NAME_UNITS, compareCfbNames, type CfbNode, type CfbStorage } from './cfb-tree.js';

/**
 * A compound file writer (MS-CFB, version 3: 512-byte sectors) that writes exactly the tree it
 * is given, nothing added: the `cfb` package's writer adds a "\x01Sh33tJ5" stream of its own,
 * which would change an MSI's Authenticode digest.
 *
 * Layout, in sector order after the 512-byte header (MS-CFB 2.2): the FAT, the DIFAT sectors,
 * the directory, the mini FAT, the mini stream, then each large stream. Streams under the 4,096
 * byte cutoff live in the mini stream (MS-CFB 2.4/2.5). Returns the file as a list of chunks so a
 * large stream's bytes are written from where they lie, not copied.
 */
const SECTOR = 512;
const MINI_SECTOR = 64;
const MINI_CUTOFF = 4096;
const ENTRY = 128;
// MS-CFB 2.1: special sector numbers and the empty stream ID.
const DIFSECT = 0xfffffffc;
const FATSECT = 0xfffffffd;
const ENDOFCHAIN = 0xfffffffe;
const FREESECT = 0xffffffff;
const NOSTREAM = 0xffffffff;
const HEADER_DIFAT = 109;
const PER_SECTOR = SECTOR / 4;
/** MS-CFB 2.6.1: characters a name may not hold. */
const ILLEGAL_NAME = /[/\\:!]/;

interface DirEntry {
  node: CfbNode;
  left: number;
  right: number;
  child: number;
  black: boolean;
  start: number;
  size: number;
}

export function writeCfb(root: CfbStorage): { chunks: Buffer[]; size: number } {
  const entries: DirEntry[] = [];
  addEntry(entries, root);
  linkChildren(entries, 0);

  // Mini stream: small streams one after another, each from a 64-byte boundary (MS-CFB 2.4).
  const miniFat: number[] = [];
  const miniChunks: Buffer[] = [];
  const large: DirEntry[] = [];
  for (const e of entries) {
    if (e.node.type !== 'stream') continue;
    const n = e.node.content.length;
    e.size = n;
    if (n >= MINI_CUTOFF) {
      large.push(e);
      continue;
    }
    if (n === 0) {
      e.start = ENDOFCHAIN;
      continue;
    }
    e.start = miniFat.length;
    chain(miniFat, miniFat.length, Math.ceil(n / MINI_SECTOR));
    miniChunks.push(e.node.content, Buffer.alloc(pad(n, MINI_SECTOR)));
  }
  const miniBytes = miniFat.length * MINI_SECTOR;

  // The FAT and DIFAT come first (osslsigncode refuses a directory at sector 0, and no chain
  // may point back to sector 0), so their size is settled before any other sector is numbered:
  // they must also map their own sectors (MS-CFB 2.3, 2.5).
  const dirSectors = Math.ceil(entries.length / (SECTOR / ENTRY));
  const miniFatSectors = Math.ceil(miniFat.length / PER_SECTOR);
  const miniStreamSectors = Math.ceil(miniBytes / SECTOR);
  const data =
    dirSectors +
    miniFatSectors +
    miniStreamSectors +
    large.reduce((n, e) => n + Math.ceil(e.size / SECTOR), 0);
  let fatSectors = 1;
  let difatSectors: number;
  for (;;) {
    difatSectors = Math.max(0, Math.ceil((fatSectors - HEADER_DIFAT) / (PER_SECTOR - 1)));
    if (fatSectors * PER_SECTOR >= data + fatSectors + difatSectors) break;
    fatSectors++;
  }
  const fat: number[] = [];
  for (let i = 0; i < fatSectors; i++) fat.push(FATSECT);
  for (let i = 0; i < difatSectors; i++) fat.push(DIFSECT);
  const dirStart = fat.length;
  chain(fat, dirStart, dirSectors);
  const miniFatStart = miniFatSectors === 0 ? ENDOFCHAIN : fat.length;
  chain(fat, fat.length, miniFatSectors);
  const root0 = entries[0] as DirEntry;
  root0.start = miniStreamSectors === 0 ? ENDOFCHAIN : fat.length;
  root0.size = miniBytes;
  chain(fat, fat.length, miniStreamSectors);
  for (const e of large) {
    e.start = fat.length;
    chain(fat, fat.length, Math.ceil(e.size / SECTOR));
  }
  const sectors = fat.length;

  const fatIds = Array.from({ length: fatSectors }, (_, i) => i);
  const header = headerOf({
    fatSectors,
    dirStart,
    miniFatStart,
    miniFatSectors,
    difatStart: difatSectors === 0 ? ENDOFCHAIN : fatSectors,
    difatSectors,
    fatIds,
  });
  const chunks: Buffer[] = [
    header,
    sectorsOf(fat, fatSectors, FREESECT),
    difatOf(fatIds.slice(HEADER_DIFAT), fatSectors, difatSectors),
    directoryOf(entries),
    sectorsOf(miniFat, miniFatSectors, FREESECT),
  ];
  if (miniBytes > 0) chunks.push(...miniChunks, Buffer.alloc(pad(miniBytes, SECTOR)));
  for (const e of large) {
    const content = (e.node as { content: Buffer }).content;
    chunks.push(content, Buffer.alloc(pad(content.length, SECTOR)));
  }
  const size = SECTOR * (1 + sectors);
  return { chunks, size };
}

/** Depth-first: a storage's entry, then its children's; IDs are positions in `entries`. */
function addEntry(entries: DirEntry[], node: CfbNode): number {
  const units = node.name.length;
  if (units === 0 || units > MAX_NAME_UNITS || ILLEGAL_NAME.test(node.name))
    throw invalidInput(
      `compound file entry name ${JSON.stringify(node.name)} is not valid (MS-CFB 2.6.1)`,
    );
  const id = entries.length;
  entries.push({
    node,
    left: NOSTREAM,
    right: NOSTREAM,
    child: NOSTREAM,
    black: true,
    start: 0,
    size: 0,
  });
  if (node.type === 'storage') for (const c of node.children) addEntry(entries, c);
  return id;
}

/**
 * Each storage's children as a red-black tree (MS-CFB 2.6.4) built from the sorted names: the
 * middle element at the top, each half below it. Such a tree's leaves all lie on its last two
 * levels, so colouring the deepest level red (never the top) gives every path the same number of
 * black nodes, and no red node has a red child.
 */
function linkChildren(entries: DirEntry[], id: number): void {
  const e = entries[id] as DirEntry;
  if (e.node.type !== 'storage') return;
  const ids: number[] = [];
  let next = id + 1;
  for (const c of e.node.children) {
    ids.push(next);
    next += countEntries(c);
  }
  ids.sort((a, b) => compareCfbNames(nameOf(entries, a), nameOf(entries, b)));
  for (let i = 1; i < ids.length; i++)
    if (
      compareCfbNames(nameOf(entries, ids[i - 1] as number), nameOf(entries, ids[i] as number)) ===
      0
    )
      throw invalidInput(
        `two entries of one storage are both named ${JSON.stringify(nameOf(entries, ids[i] as number))}`,
      );
  const depths = new Map<number, number>();
  e.child = balanced(entries, ids, 0, depths);
  const deepest = Math.max(0, ...depths.values());
  for (const [child, depth] of depths)
    (entries[child] as DirEntry).black = !(depth === deepest && depth > 0);
  for (const child of ids) linkChildren(entries, child);
}

function balanced(
  entries: DirEntry[],
  ids: number[],
  depth: number,
  depths: Map<number, number>,
): number {
  if (ids.length === 0) return NOSTREAM;
  const mid = ids.length >> 1;
  const id = ids[mid] as number;
  depths.set(id, depth);
  const e = entries[id] as DirEntry;
  e.left = balanced(entries, ids.slice(0, mid), depth + 1, depths);
  e.right = balanced(entries, ids.slice(mid + 1), depth + 1, depths);
  return id;
}

function countEntries(node: CfbNode): number {
  return node.type === 'storage' ? 1 + node.children.reduce((n, c) => n + countEntries(c), 0) : 1;
}

function nameOf(entries: DirEntry[], id: number): string {
  return (entries[id] as DirEntry).node.name;
}

/** Appends a chain of `count` sectors starting at `first` (each pointing to the next). */
function chain(table: number[], first: number, count: number): void {
  for (let i = 0; i < count; i++) table[first + i] = i === count - 1 ? ENDOFCHAIN : first + i + 1;
}

function pad(n: number, unit: number): number {
  return (unit - (n % unit)) % unit;
}

/** MS-CFB 2.2 Compound File Header (version 3). */
function headerOf(h: {
  fatSectors: number;
  dirStart: number;
  miniFatStart: number;
  miniFatSectors: number;
  difatStart: number;
  difatSectors: number;
  fatIds: number[];
}): Buffer {
  const b = Buffer.alloc(SECTOR);
  b.writeUInt32LE(0xe011cfd0, 0);
  b.writeUInt32LE(0xe11ab1a1, 4);
  // Header CLSID (8..23) zero.
  b.writeUInt16LE(0x003e, 24); // minor version
  b.writeUInt16LE(0x0003, 26); // major version 3
  b.writeUInt16LE(0xfffe, 28); // byte order: little-endian
  b.writeUInt16LE(9, 30); // sector shift: 512
  b.writeUInt16LE(6, 32); // mini sector shift: 64
  // Reserved (34..39) and number of directory sectors (40, zero in version 3).
  b.writeUInt32LE(h.fatSectors, 44);
  b.writeUInt32LE(h.dirStart, 48);
  // Transaction signature (52) zero.
  b.writeUInt32LE(MINI_CUTOFF, 56);
  b.writeUInt32LE(h.miniFatStart, 60);
  b.writeUInt32LE(h.miniFatSectors, 64);
  b.writeUInt32LE(h.difatStart, 68);
  b.writeUInt32LE(h.difatSectors, 72);
  for (let i = 0; i < HEADER_DIFAT; i++) b.writeUInt32LE(h.fatIds[i] ?? FREESECT, 76 + 4 * i);
  return b;
}

/** MS-CFB 2.6.1 directory entries, padded with unallocated ones to whole sectors. */
function directoryOf(entries: DirEntry[]): Buffer {
  const perSector = SECTOR / ENTRY;
  const total = Math.ceil(entries.length / perSector) * perSector;
  const b = Buffer.alloc(total * ENTRY);
  for (let i = 0; i < total; i++) {
    const at = i * ENTRY;
    const e = entries[i];
    if (e === undefined) {
      // Unallocated: all zero but the three stream IDs.
      b.writeUInt32LE(NOSTREAM, at + 68);
      b.writeUInt32LE(NOSTREAM, at + 72);
      b.writeUInt32LE(NOSTREAM, at + 76);
      continue;
    }
    b.write(e.node.name, at, 'utf16le');
    b.writeUInt16LE((e.node.name.length + 1) * 2, at + 64);
    b[at + 66] = e.node.type === 'stream' ? 2 : i === 0 ? 5 : 1;
    b[at + 67] = e.black ? 1 : 0;
    b.writeUInt32LE(e.left, at + 68);
    b.writeUInt32LE(e.right, at + 72);
    b.writeUInt32LE(e.child, at + 76);
    if (e.node.type === 'storage') {
      e.node.clsid.copy(b, at + 80, 0, 16);
      b.writeUInt32LE(e.node.stateBits >>> 0, at + 96);
      // The root's creation time must be zero (MS-CFB 2.6.3); streams carry no times.
      if (i !== 0) b.writeBigUInt64LE(fileTime(e.node.created), at + 100);
      b.writeBigUInt64LE(fileTime(e.node.modified), at + 108);
    }
    b.writeUInt32LE(e.start, at + 116);
    b.writeUInt32LE(e.size, at + 120); // the high 32 bits stay zero in version 3
  }
  return b;
}

/** FILETIME: 100-nanosecond intervals since 1601-01-01 UTC; zero for "not set". */
function fileTime(date: Date | null): bigint {
  if (date === null || Number.isNaN(date.getTime())) return 0n;
  return BigInt(date.getTime() + 11_644_473_600_000) * 10_000n;
}

function sectorsOf(values: number[], sectors: number, filler: number): Buffer {
  const b = Buffer.alloc(sectors * SECTOR);
  for (let i = 0; i < sectors * PER_SECTOR; i++) b.writeUInt32LE(values[i] ?? filler, 4 * i);
  return b;
}

/** MS-CFB 2.5: DIFAT sectors, 127 FAT sector numbers each and the next DIFAT sector last. */
function difatOf(fatIds: number[], first: number, sectors: number): Buffer {
  const b = Buffer.alloc(sectors * SECTOR, 0xff);
  for (let s = 0; s < sectors; s++) {
    for (let i = 0; i < PER_SECTOR - 1; i++) {
      const id = fatIds[s * (PER_SECTOR - 1) + i];
      if (id !== undefined) b.writeUInt32LE(id, s * SECTOR + 4 * i);
    }
    b.writeUInt32LE(s === sectors - 1 ? ENDOFCHAIN : first + s + 1, s * SECTOR + SECTOR - 4);
  }
  return b;
}
