import CFB from 'cfb';
import { UpcatError, invalidInput } from '../../errors.js';

/**
 * A compound file (MS-CFB) as a tree of storages and streams: what cfb-write.ts writes and what
 * readCfbTree reads. Only what a reader can see is kept: names, stream bytes, and each storage's
 * CLSID, state bits and times (MS-CFB 2.6.3); sector layout is the writer's business.
 */
export interface CfbStream {
  type: 'stream';
  name: string;
  content: Buffer;
}

export interface CfbStorage {
  type: 'storage';
  name: string;
  /** 16 bytes, as stored (GUID in its little-endian field layout). */
  clsid: Buffer;
  stateBits: number;
  created: Date | null;
  modified: Date | null;
  children: CfbNode[];
}

export type CfbNode = CfbStream | CfbStorage;

/** MS-CFB 2.6.1: at most 31 UTF-16 code units before the terminating NUL. */
export const MAX_NAME_UNITS = 31;

/**
 * MS-CFB 2.6.4 red-black tree order: a shorter name sorts first; names of equal length compare
 * code unit by code unit after simple upper-casing (a character whose upper case is not a single
 * code unit, like "ß", is left as it is).
 */
export function compareCfbNames(a: string, b: string): number {
  if (a.length !== b.length) return a.length - b.length;
  for (let i = 0; i < a.length; i++) {
    const d = upperUnit(a.charCodeAt(i)) - upperUnit(b.charCodeAt(i));
    if (d !== 0) return d;
  }
  return 0;
}

function upperUnit(unit: number): number {
  const upper = String.fromCharCode(unit).toUpperCase();
  return upper.length === 1 ? upper.charCodeAt(0) : unit;
}

/**
 * Reads a compound file with the `cfb` package (reading is all it is used for: its writer adds
 * a stream of its own and re-sorts the tree, see cfb-write.ts) into a CfbStorage tree.
 */
export function readCfbTree(bytes: Buffer, what: string): CfbStorage {
  if (
    bytes.length < 512 ||
    bytes.readUInt32LE(0) !== 0xe011cfd0 ||
    bytes.readUInt32LE(4) !== 0xe11ab1a1
  )
    throw invalidInput(`${what} is not a compound file (MSI): no MS-CFB header`);
  let container: CFB.CFB$Container;
  try {
    container = CFB.read(bytes, { type: 'buffer' });
  } catch (err) {
    throw new UpcatError(
      'invalid_input',
      `${what} is not a readable compound file (MSI): ${err instanceof Error ? err.message : String(err)}`,
      {
        cause: err,
      },
    );
  }
  const rootPath = container.FullPaths[0];
  const rootEntry = container.FileIndex[0];
  if (rootPath === undefined || rootEntry === undefined || rootEntry.type !== 5)
    throw invalidInput(`${what} has no root storage`);
  const root = storageOf(rootEntry);
  const byPath = new Map<string, CfbStorage>([[rootPath, root]]);
  // A storage's path ends with "/" and is shorter than its children's: visiting paths by length
  // meets every storage before its children. Unallocated entries (type 0) are skipped.
  const order = container.FullPaths.map((p, i) => ({ p, e: container.FileIndex[i] }))
    .slice(1)
    .filter((x): x is { p: string; e: CFB.CFB$Entry } => x.e !== undefined && x.e.type !== 0)
    .sort((a, b) => a.p.length - b.p.length);
  for (const { p, e } of order) {
    const isStorage = e.type === 1;
    const parentPath = p.slice(0, p.lastIndexOf('/', p.length - (isStorage ? 2 : 1)) + 1);
    const parent = byPath.get(parentPath);
    if (parent === undefined)
      throw invalidInput(`${what}: entry ${JSON.stringify(p)} has no storage`);
    if (isStorage) {
      const s = storageOf(e);
      parent.children.push(s);
      byPath.set(p, s);
    } else if (e.type === 2) {
      // cfb gives no content for an empty stream.
      const content =
        e.size === 0
          ? Buffer.alloc(0)
          : Buffer.isBuffer(e.content)
            ? e.content // only read, so used as cfb gives it
            : Buffer.from(e.content ?? []);
      if (content.length !== e.size)
        throw invalidInput(`${what}: stream ${JSON.stringify(e.name)} is truncated`);
      parent.children.push({ type: 'stream', name: e.name, content });
    }
  }
  return root;
}

function storageOf(e: CFB.CFB$Entry): CfbStorage {
  // A missing or short CLSID counts as zeros (16 bytes either way).
  const clsid = Buffer.alloc(16);
  Buffer.from(e.clsid ?? '', 'hex').copy(clsid);
  return {
    type: 'storage',
    name: e.name,
    clsid,
    stateBits: e.state ?? 0,
    created: e.ct ?? null,
    modified: e.mt ?? null,
    children: [],
  };
}
