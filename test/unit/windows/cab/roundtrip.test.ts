import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import test from 'ava';
import { UpcatError } from '../../../../src/errors.js';
import {
  extractCab,
  openCabEntry,
  readCab,
  readCabEntry,
  writeCab,
  type CabInputFile,
} from '../../../../src/windows/cab/index.js';
import { writeCab as writeCabWithLimits } from '../../../../src/windows/cab/writer.js';

let dir: string;
test.before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'upcat-cab-'));
});
test.after.always(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Compressible but not trivial text. */
function text(bytes: number, seed: number): Buffer {
  const words = [
    'update',
    'catalog',
    'cabinet',
    'folder',
    'block',
    'deflate',
    'window',
    'signature',
  ];
  let s = seed;
  const parts: string[] = [];
  let n = 0;
  while (n < bytes) {
    s = (s * 1103515245 + 12345) >>> 0;
    const w = `${words[s % words.length] as string}${s % 97} `;
    parts.push(w);
    n += w.length;
  }
  return Buffer.from(parts.join('')).subarray(0, bytes);
}

async function collect(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const p of stream) parts.push(p as Buffer);
  return Buffer.concat(parts);
}

test('write then read: several files, MSZIP history across blocks, stream and Buffer sources', async (t) => {
  const big = text(200_000, 1);
  const onDisk = path.join(dir, 'big.txt');
  await writeFile(onDisk, big);
  const streamed = text(70_000, 2);
  const files: CabInputFile[] = [
    { name: 'big.txt', source: onDisk },
    { name: 'empty.bin', source: Buffer.alloc(0) },
    {
      name: 'sub/dir/streamed.txt',
      source: () => Readable.from([streamed.subarray(0, 1000), streamed.subarray(1000)]),
      size: streamed.length,
    },
    { name: 'ünïcode.txt', source: Buffer.from('é\n') },
  ];
  const out = path.join(dir, 'a.cab');
  const mtime = new Date(Date.UTC(2024, 0, 2, 3, 4, 6));
  const res = await writeCab(files, out, { mtime });
  t.is(res.folders, 1);
  t.is(res.blocks, Math.ceil((200_000 + 70_000 + 3) / 32768));
  t.is(res.bytes, (await readFile(out)).length);
  t.true(res.bytes < 200_000, 'compressed');

  const cab = await readCab(out);
  t.deepEqual(
    cab.files.map((f) => [f.name, f.size, f.folderIndex]),
    [
      ['big.txt', 200_000, 0],
      ['empty.bin', 0, 0],
      ['sub\\dir\\streamed.txt', 70_000, 0],
      ['ünïcode.txt', 3, 0],
    ],
  );
  t.is(cab.files[3]?.attributes, 0x20 | 0x80);
  t.is(cab.files[0]?.attributes, 0x20);
  t.deepEqual(cab.files[0]?.mtime, mtime);
  t.deepEqual(await readCabEntry(cab, 'big.txt', { maxBytes: 1e6 }), big);
  t.deepEqual(await collect(await openCabEntry(out, 'sub/dir/streamed.txt')), streamed);
  t.deepEqual(await readCabEntry(out, 'empty.bin', { maxBytes: 0 }), Buffer.alloc(0));
  const tooBig = await t.throwsAsync(readCabEntry(cab, 'big.txt', { maxBytes: 1000 }), {
    instanceOf: UpcatError,
  });
  t.is(tooBig?.code, 'too_large');
  const missing = await t.throwsAsync(readCabEntry(cab, 'nope', { maxBytes: 1000 }), {
    instanceOf: UpcatError,
  });
  t.is(missing?.details?.['reason'], 'not_found');
});

test('stored (typeCompress none) and the signature reserve', async (t) => {
  const data = text(100_000, 3);
  const out = path.join(dir, 'stored.cab');
  const res = await writeCab([{ name: 'x.txt', source: data }], out, {
    compression: 'none',
    signatureReserve: true,
  });
  const cab = await readCab(out);
  t.is(cab.folders[0]?.compression, 'none');
  t.is(res.bytes, 60 + 8 + 16 + 'x.txt'.length + 1 + 4 * 8 + data.length);
  t.deepEqual(cab.header.signature, { offset: res.bytes, length: 0 });
  t.is(cab.header.flags, 4);
  t.deepEqual(await readCabEntry(cab, 'x.txt', { maxBytes: 1e6 }), data);
});

test('a new folder starts before a folder would pass its block limit; files never straddle', async (t) => {
  // 3 blocks per folder (the real limit is 65535, see the next test); 7 files of 40,000 bytes.
  const files = Array.from({ length: 7 }, (_, i) => ({
    name: `f${i}.txt`,
    source: text(40_000, 10 + i),
  }));
  const out = path.join(dir, 'folders.cab');
  const res = await writeCabWithLimits(files, out, {}, { maxBlocksPerFolder: 3 });
  // 40,000 x 2 = 80,000 <= 98,304 bytes (3 blocks); a third file would not fit.
  t.is(res.folders, 4);
  const cab = await readCab(out);
  t.deepEqual(
    cab.files.map((f) => [f.folderIndex, f.folderOffset]),
    [
      [0, 0],
      [0, 40_000],
      [1, 0],
      [1, 40_000],
      [2, 0],
      [2, 40_000],
      [3, 0],
    ],
  );
  t.true(cab.folders.every((f) => f.blockCount <= 3));
  for (const f of files) t.deepEqual(await readCabEntry(cab, f.name, { maxBytes: 1e6 }), f.source);
});

test('the real limit: one file over 65535 blocks of 32 KiB is refused before anything is read', async (t) => {
  let opened = false;
  const out = path.join(dir, 'huge.cab');
  const err = await t.throwsAsync(
    writeCab(
      [
        {
          name: 'huge.bin',
          size: 65535 * 32768 + 1,
          source: () => {
            opened = true;
            return Readable.from([]);
          },
        },
      ],
      out,
    ),
    { instanceOf: UpcatError },
  );
  t.is(err?.code, 'too_large');
  t.false(opened);
  await t.throwsAsync(readFile(out));
});

test('writer refusals: bad names, a stream of the wrong size, an existing output', async (t) => {
  const out = path.join(dir, 'refused.cab');
  const bad = await t.throwsAsync(writeCab([{ name: '../x', source: Buffer.from('a') }], out), {
    instanceOf: UpcatError,
  });
  t.is(bad?.details?.['reason'], 'bad_name');
  const short = await t.throwsAsync(
    writeCab([{ name: 'x', size: 10, source: () => Readable.from([Buffer.from('abc')]) }], out),
    { instanceOf: UpcatError },
  );
  t.is(short?.code, 'invalid_input');
  await t.throwsAsync(readFile(out), undefined, 'the partial output is removed');
  const long = await t.throwsAsync(
    writeCab([{ name: 'x', size: 2, source: () => Readable.from([Buffer.from('abc')]) }], out),
    { instanceOf: UpcatError },
  );
  t.is(long?.code, 'invalid_input');
  const none = await t.throwsAsync(writeCab([], out), { instanceOf: UpcatError });
  t.is(none?.code, 'invalid_input');
  await writeFile(out, 'keep');
  const exists = await t.throwsAsync(writeCab([{ name: 'x', source: Buffer.from('a') }], out), {
    instanceOf: UpcatError,
  });
  t.is(exists?.code, 'conflict');
  t.is(await readFile(out, 'utf8'), 'keep');
  await writeCab([{ name: 'x', source: Buffer.from('a') }], out, { overwrite: true });
  t.deepEqual(await readCabEntry(out, 'x', { maxBytes: 1 }), Buffer.from('a'));
});

test('extractCab writes nested names under the destination, dots inside names allowed', async (t) => {
  const out = path.join(dir, 'extract.cab');
  const files = [
    { name: '..a.txt', source: Buffer.from('one') },
    { name: 'd/b..txt', source: Buffer.from('two') },
    { name: 'd/e/empty', source: Buffer.alloc(0) },
  ];
  await writeCab(files, out);
  const dest = path.join(dir, 'extracted');
  const done = await extractCab(out, dest);
  t.deepEqual(
    done.map((f) => [path.relative(dest, f.path), f.size]),
    [
      ['..a.txt', 3],
      [path.join('d', 'b..txt'), 3],
      [path.join('d', 'e', 'empty'), 0],
    ],
  );
  t.is(await readFile(path.join(dest, 'd', 'b..txt'), 'utf8'), 'two');
  // Never overwrites: a second extraction into the same place is refused.
  const again = await t.throwsAsync(extractCab(out, dest), { instanceOf: UpcatError });
  t.is(again?.code, 'conflict');
  t.is(await readFile(path.join(dest, '..a.txt'), 'utf8'), 'one');
});
