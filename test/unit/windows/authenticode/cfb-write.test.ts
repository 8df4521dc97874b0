import { createHash, randomBytes } from 'node:crypto';
import test from 'ava';
import CFB from 'cfb';
import { refusalCode } from '../../../helpers/authenticode.js';
import {
  compareCfbNames,
  readCfbTree,
  type CfbNode,
  type CfbStorage,
} from '../../../../src/windows/authenticode/cfb-tree.js';
import { writeCfb } from '../../../../src/windows/authenticode/cfb-write.js';

/** The compound-file writer, read back by the `cfb` package (an independent reader) and by hand. */
const stream = (name: string, size: number): CfbNode => ({
  type: 'stream',
  name,
  content: randomBytes(size),
});

function storage(name: string, children: CfbNode[], clsidByte = 0): CfbStorage {
  return {
    type: 'storage',
    name,
    clsid: Buffer.alloc(16, clsidByte),
    stateBits: clsidByte,
    created: null,
    modified: null,
    children,
  };
}

const fileOf = (root: CfbStorage): Buffer => {
  const { chunks, size } = writeCfb(root);
  const bytes = Buffer.concat(chunks);
  if (bytes.length !== size) throw new Error(`size ${size} but ${bytes.length} bytes written`);
  return bytes;
};

/** Every stream and storage by path (sorted), with its size and SHA-256 or its CLSID and state. */
function flatten(node: CfbNode, prefix = ''): [string, string][] {
  const p = prefix + node.name;
  if (node.type === 'stream')
    return [
      [p, `${node.content.length} ${createHash('sha256').update(node.content).digest('hex')}`],
    ];
  const out: [string, string][] = [[`${p}/`, `${node.clsid.toString('hex')} ${node.stateBits}`]];
  for (const c of node.children) out.push(...flatten(c, `${p}/`));
  return out.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

test('MS-CFB 2.6.4 order: shorter names first, then code units compared upper-cased', (t) => {
  t.true(compareCfbNames('Z', 'aa') < 0);
  t.true(compareCfbNames('abc', 'ABD') < 0);
  t.true(compareCfbNames('ABD', 'abc') > 0);
  t.is(compareCfbNames('Table', 'TABLE'), 0);
  // "_" (0x5F) sorts after the upper-cased letters, not after the lower-case ones.
  t.true(compareCfbNames('_a', 'za') > 0);
  // "ß" upper-cases to two code units ("SS"), so it is compared as it is.
  t.true(compareCfbNames('ß', 'S') > 0);
});

test('a tree of storages and streams round-trips through the cfb package, nothing added', (t) => {
  const root = storage(
    'Root Entry',
    [
      stream('\u0005SummaryInformation', 400),
      stream('empty', 0),
      stream('mini-edge', 4095),
      stream('cutoff', 4096),
      stream('large', 70_000),
      storage('Sub', [stream('inner', 10), storage('Deeper', [stream('x', 5000)], 7)], 3),
      stream('\u4840\u3f3f\u4577', 64),
    ],
    0x84,
  );
  const bytes = fileOf(root);
  // The cfb package reads it, and finds exactly our entries (no "\x01Sh33tJ5").
  const c = CFB.read(bytes, { type: 'buffer' });
  const seen = c.FullPaths.filter((_, i) => (c.FileIndex[i]?.type ?? 0) !== 0);
  t.deepEqual(
    seen.sort(),
    flatten(root).map(([k]) => k),
  );
  t.deepEqual(flatten(readCfbTree(bytes, 'test')), flatten(root));
  // Version 3 header fields (MS-CFB 2.2).
  t.is(bytes.readUInt16LE(26), 3);
  t.is(bytes.readUInt32LE(56), 4096);
  t.is(bytes.length % 512, 0);
});

test('no small streams: no mini FAT and no mini stream (ENDOFCHAIN in the header and root)', (t) => {
  const root = storage('Root Entry', [stream('big', 5000)]);
  const bytes = fileOf(root);
  t.is(bytes.readUInt32LE(60), 0xfffffffe);
  t.is(bytes.readUInt32LE(64), 0);
  t.deepEqual(flatten(readCfbTree(bytes, 'test')), flatten(root));
});

test('over 109 FAT sectors: the DIFAT chain maps the rest, and the cfb package reads it', (t) => {
  const root = storage('Root Entry', [stream('huge', 8 * 1024 * 1024), stream('small', 100)]);
  const bytes = fileOf(root);
  const fatSectors = bytes.readUInt32LE(44);
  t.true(fatSectors > 109);
  t.is(bytes.readUInt32LE(72), Math.ceil((fatSectors - 109) / 127));
  t.deepEqual(flatten(readCfbTree(bytes, 'test')), flatten(root));
});

/** The directory entries as stored: reads the header, FAT and directory chain by hand. */
interface RawEntry {
  name: string;
  type: number;
  black: boolean;
  left: number;
  right: number;
  child: number;
}

function directory(bytes: Buffer): RawEntry[] {
  const sector = (n: number): Buffer => bytes.subarray(512 + 512 * n, 1024 + 512 * n);
  const fat: number[] = [];
  for (let i = 0; i < 109; i++) {
    const s = bytes.readUInt32LE(76 + 4 * i);
    if (s === 0xffffffff) break;
    for (let j = 0; j < 128; j++) fat.push(sector(s).readUInt32LE(4 * j));
  }
  const out: RawEntry[] = [];
  for (let s = bytes.readUInt32LE(48); s !== 0xfffffffe; s = fat[s] as number) {
    const d = sector(s);
    for (let k = 0; k < 4; k++) {
      const e = d.subarray(128 * k, 128 * k + 128);
      const len = e.readUInt16LE(64);
      out.push({
        name: e.toString('utf16le', 0, Math.max(0, len - 2)),
        type: e[66] as number,
        black: e[67] === 1,
        left: e.readUInt32LE(68),
        right: e.readUInt32LE(72),
        child: e.readUInt32LE(76),
      });
    }
  }
  return out;
}

/** Checks the red-black rules and the order under `id`; returns its black height. */
function checkTree(
  t: { fail: (m: string) => void },
  entries: RawEntry[],
  id: number,
  seen: string[],
): number {
  if (id === 0xffffffff) return 1;
  const e = entries[id] as RawEntry;
  if (!e.black)
    for (const c of [e.left, e.right])
      if (c !== 0xffffffff && !(entries[c] as RawEntry).black)
        t.fail(`red ${e.name} has a red child`);
  const l = checkTree(t, entries, e.left, seen);
  seen.push(e.name);
  const r = checkTree(t, entries, e.right, seen);
  if (l !== r) t.fail(`black heights differ under ${e.name}: ${l} and ${r}`);
  return l + (e.black ? 1 : 0);
}

test('each storage holds a valid red-black tree in MS-CFB order, for 1 to 70 children', (t) => {
  for (let n = 1; n <= 70; n++) {
    // Names of mixed length and case, given in a scrambled order.
    const names = Array.from(
      { length: n },
      (_, i) => `${i % 2 ? 'n' : 'N'}${'x'.repeat(i % 5)}${(i * 37) % 101}`,
    );
    const root = storage(
      'Root Entry',
      names.map((name) => stream(name, 1)),
    );
    const entries = directory(fileOf(root));
    const top = (entries[0] as RawEntry).child;
    t.true((entries[top] as RawEntry).black, `n=${n}: the tree's root is black`);
    const seen: string[] = [];
    checkTree(t, entries, top, seen);
    t.deepEqual(seen, [...names].sort(compareCfbNames), `n=${n}: in-order walk is sorted`);
  }
});

test('invalid trees are refused: duplicate names (case-insensitive), long or illegal names', (t) => {
  const dup = storage('Root Entry', [stream('Table', 1), stream('TABLE', 1)]);
  t.is(
    refusalCode(() => writeCfb(dup)),
    'invalid_input',
  );
  t.is(
    refusalCode(() => writeCfb(storage('Root Entry', [stream('x'.repeat(32), 1)]))),
    'invalid_input',
  );
  t.is(
    refusalCode(() => writeCfb(storage('Root Entry', [stream('a/b', 1)]))),
    'invalid_input',
  );
  t.is(
    refusalCode(() => writeCfb(storage('Root Entry', [stream('x'.repeat(31), 1)]))),
    'accepted',
  );
});

test('not a compound file, or a truncated one, is a clear invalid_input', (t) => {
  const good = fileOf(storage('Root Entry', [stream('large', 70_000)]));
  t.is(
    refusalCode(() => readCfbTree(Buffer.from('hello world'), 'x')),
    'invalid_input',
  );
  t.is(
    refusalCode(() => readCfbTree(good.subarray(0, 20_000), 'x')),
    'invalid_input',
  );
  t.is(
    refusalCode(() => readCfbTree(good.subarray(0, 700), 'x')),
    'invalid_input',
  );
});
