/**
 * The reader refuses malformed cabinets with a coded error and bounded work. Each case starts
 * from a valid cabinet written by writeCab and changes a few bytes.
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { UpcatError } from '../../../../src/errors.js';
import { dataBlockChecksum } from '../../../../src/windows/cab/checksum.js';
import {
  extractCab,
  readCab,
  readCabEntry,
  type CabErrorReason,
} from '../../../../src/windows/cab/index.js';
import { writeCab } from '../../../../src/windows/cab/writer.js';

let dir: string;
let counter = 0;
test.before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'upcat-cab-bad-'));
});
test.after.always(async () => {
  await rm(dir, { recursive: true, force: true });
});

const A = Buffer.from('alpha '.repeat(12_000)); // 72,000 bytes: 3 blocks
const B = Buffer.from('bravo\n'.repeat(6000)); // 36,000 bytes: A and B need 4 blocks

/** A valid cabinet's bytes: two files in one folder (or one per folder with `twoFolders`). */
async function validCab(
  opts: { names?: [string, string]; twoFolders?: boolean } = {},
): Promise<Buffer> {
  const [a, b] = opts.names ?? ['a.txt', 'b.txt'];
  const out = path.join(dir, `valid-${counter++}.cab`);
  await writeCab(
    [
      { name: a, source: A },
      { name: b, source: B },
    ],
    out,
    {},
    { maxBlocksPerFolder: opts.twoFolders === true ? 3 : 65535 },
  );
  return readFile(out);
}

async function save(bytes: Buffer): Promise<string> {
  const p = path.join(dir, `case-${counter++}.cab`);
  await writeFile(p, bytes);
  return p;
}

async function refused(
  t: ExecutionContext,
  work: Promise<unknown>,
  reason: CabErrorReason,
): Promise<void> {
  const err = await t.throwsAsync(work, { instanceOf: UpcatError });
  t.is(err?.code, 'invalid_input');
  t.is(err?.details?.['reason'], reason, err?.message);
  t.regex(err?.message ?? '', /^cabinet: /);
}

const FOLDER0 = 36; // no header reserve
const dataStart = (cab: Buffer): number => cab.readUInt32LE(FOLDER0);
const coffFiles = (cab: Buffer): number => cab.readUInt32LE(16);

test('a valid cabinet passes (the baseline for the cases below)', async (t) => {
  const p = await save(await validCab());
  t.deepEqual(await readCabEntry(p, 'a.txt', { maxBytes: 1e6 }), A);
  t.deepEqual(await readCabEntry(p, 'b.txt', { maxBytes: 1e6 }), B);
});

test('a missing file is not_found, a directory is not a cabinet', async (t) => {
  const missing = await t.throwsAsync(readCab(path.join(dir, 'nope.cab')), {
    instanceOf: UpcatError,
  });
  t.is(missing?.code, 'not_found');
  await refused(t, readCab(dir), 'not_a_cabinet');
});

test('truncated anywhere: refused', async (t) => {
  const cab = await validCab();
  for (const length of [0, 10, 35, 40, 50, dataStart(cab) + 4, cab.length - 1]) {
    await refused(t, readCab(await save(cab.subarray(0, length))), 'truncated');
  }
});

test('not a cabinet, or a multi-volume one: refused', async (t) => {
  const cab = await validCab();
  const notCab = Buffer.from(cab);
  notCab.write('MSCX', 0, 'latin1');
  await refused(t, readCab(await save(notCab)), 'not_a_cabinet');
  for (const flag of [1, 2]) {
    const multi = Buffer.from(cab);
    multi.writeUInt16LE(flag, 30);
    await refused(t, readCab(await save(multi)), 'multi_volume');
  }
  const continued = Buffer.from(cab);
  continued.writeUInt16LE(0xfffd, coffFiles(cab) + 8);
  await refused(t, readCab(await save(continued)), 'multi_volume');
});

test('absurd counts: cFiles or cCFData that cannot fit in the file', async (t) => {
  const cab = await validCab();
  const files = Buffer.from(cab);
  files.writeUInt16LE(0xffff, 28);
  await refused(t, readCab(await save(files)), 'bad_count');
  const blocks = Buffer.from(cab);
  blocks.writeUInt16LE(0xffff, FOLDER0 + 4);
  await refused(t, readCab(await save(blocks)), 'bad_count');
  const folders = Buffer.from(cab);
  folders.writeUInt16LE(0xffff, 26);
  await refused(t, readCab(await save(folders)), 'truncated');
});

test('offsets outside the file, into the header, or two folders over the same data', async (t) => {
  const cab = await validCab();
  const past = Buffer.from(cab);
  past.writeUInt32LE(cab.length + 100, FOLDER0);
  await refused(t, readCab(await save(past)), 'bad_offset');
  const intoHeader = Buffer.from(cab);
  intoHeader.writeUInt32LE(0, FOLDER0);
  await refused(t, readCab(await save(intoHeader)), 'bad_offset');
  const filesOff = Buffer.from(cab);
  filesOff.writeUInt32LE(cab.length + 1, 16);
  await refused(t, readCab(await save(filesOff)), 'bad_offset');
  const cbCabinet = Buffer.from(cab);
  cbCabinet.writeUInt32LE(cab.length * 2, 8);
  await refused(t, readCab(await save(cbCabinet)), 'truncated');

  const two = await validCab({ twoFolders: true });
  const loop = Buffer.from(two);
  loop.writeUInt32LE(two.readUInt32LE(FOLDER0), FOLDER0 + 8); // folder 1 -> folder 0's data
  await refused(t, readCab(await save(loop)), 'bad_offset');
  const badFolder = Buffer.from(cab);
  badFolder.writeUInt16LE(5, coffFiles(cab) + 8); // iFolder 5 of 1
  await refused(t, readCab(await save(badFolder)), 'bad_offset');
});

test('file ranges beyond the folder, or overlapping, are refused', async (t) => {
  const cab = await validCab();
  const beyond = Buffer.from(cab);
  beyond.writeUInt32LE(10_000_000, coffFiles(cab)); // cbFile of a.txt
  await refused(t, readCab(await save(beyond)), 'bad_size');
  const overlap = Buffer.from(cab);
  const second = coffFiles(cab) + 16 + 'a.txt'.length + 1;
  overlap.writeUInt32LE(100, second + 4); // b.txt starts inside a.txt
  await refused(t, readCab(await save(overlap)), 'bad_offset');
  // Within the folder's possible size but past its actual data: found while reading.
  const short = Buffer.from(cab);
  short.writeUInt32LE(A.length + 20_000, second + 4);
  const p = await save(short);
  await refused(t, readCabEntry(p, 'b.txt', { maxBytes: 1e6 }), 'bad_size');
});

test('CFDATA sizes: cbUncomp over 32768 or zero, cbData over the maximum', async (t) => {
  const cab = await validCab();
  const at = dataStart(cab);
  for (const [field, value] of [
    [6, 32769],
    [6, 0],
    [4, 60000],
  ] as const) {
    const bad = Buffer.from(cab);
    bad.writeUInt16LE(value, at + field);
    await refused(t, readCabEntry(await save(bad), 'a.txt', { maxBytes: 1e6 }), 'bad_size');
  }
});

test('a bad checksum, in the csum field or in the data, is refused', async (t) => {
  const cab = await validCab();
  const at = dataStart(cab);
  const csum = Buffer.from(cab);
  csum[at] = (csum[at] as number) ^ 1;
  await refused(t, readCabEntry(await save(csum), 'a.txt', { maxBytes: 1e6 }), 'bad_checksum');
  const data = Buffer.from(cab);
  data[at + 20] = (data[at + 20] as number) ^ 0x40;
  await refused(t, readCabEntry(await save(data), 'a.txt', { maxBytes: 1e6 }), 'bad_checksum');
  // Extraction of everything stops at the bad block and leaves nothing behind.
  const dest = path.join(dir, `dest-${counter++}`);
  await refused(t, extractCab(await save(data), dest), 'bad_checksum');
  t.deepEqual(await readdir(dest), []);
});

test('an MSZIP block that inflates to more than cbUncomp, or is not MSZIP, is refused', async (t) => {
  const cab = await validCab();
  const at = dataStart(cab);
  const cbData = cab.readUInt16LE(at + 4);
  const payload = cab.subarray(at + 8, at + 8 + cbData);
  const bomb = Buffer.from(cab);
  bomb.writeUInt16LE(100, at + 6);
  bomb.writeUInt32LE(dataBlockChecksum(payload, cbData, 100), at);
  await refused(t, readCabEntry(await save(bomb), 'a.txt', { maxBytes: 1e6 }), 'bad_data');
  const noCk = Buffer.from(cab);
  noCk.write('XX', at + 8, 'latin1');
  noCk.writeUInt32LE(0, at); // csum 0: "not computed", so the MSZIP check is what refuses it
  await refused(t, readCabEntry(await save(noCk), 'a.txt', { maxBytes: 1e6 }), 'bad_data');
});

test('LZX and Quantum folders are listed but not extracted', async (t) => {
  const cab = await validCab();
  const lzx = Buffer.from(cab);
  lzx.writeUInt16LE(0x1503, FOLDER0 + 6);
  const p = await save(lzx);
  const listed = await readCab(p);
  t.is(listed.folders[0]?.compression, 'lzx');
  await refused(t, readCabEntry(p, 'a.txt', { maxBytes: 1e6 }), 'unsupported_compression');
  const unknown = Buffer.from(cab);
  unknown.writeUInt16LE(0x0007, FOLDER0 + 6);
  await refused(t, readCab(await save(unknown)), 'unsupported_compression');
});

test('names: no terminator, bad UTF-8, path traversal when extracting', async (t) => {
  const cab = await validCab({ names: ['aa\\evil.txt', 'xbs.txt'] });
  const names = coffFiles(cab) + 16;
  const unterminated = Buffer.from(cab.subarray(0, coffFiles(cab) + 16 + 3));
  await refused(t, readCab(await save(unterminated)), 'truncated');

  const badUtf = Buffer.from(cab);
  badUtf[names] = 0xff;
  badUtf.writeUInt16LE(0x20 | 0x80, coffFiles(cab) + 14);
  await refused(t, readCab(await save(badUtf)), 'bad_name');

  for (const [offset, replacement] of [
    [names, '..'], // ..\evil.txt
    [names + 'aa\\evil.txt'.length + 1 + 16, '\\'], // \bs.txt (absolute)
    [names + 'aa\\evil.txt'.length + 1 + 16, 'C:'], // C:s.txt (drive)
  ] as const) {
    const evil = Buffer.from(cab);
    evil.write(replacement, offset, 'latin1');
    const p = await save(evil);
    const dest = path.join(dir, `dest-${counter++}`, 'inner');
    await refused(t, extractCab(p, dest), 'bad_name');
    t.deepEqual(await readdir(path.dirname(dest)).catch(() => []), [], 'nothing written');
  }
  const dup = await validCab({ names: ['same.txt', 'SAME.txt'] });
  await refused(t, extractCab(await save(dup), path.join(dir, `dest-${counter++}`)), 'bad_name');
});
