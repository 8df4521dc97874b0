import test from 'ava';
import { cabChecksum } from '../../../../src/windows/cab/checksum.js';
import {
  decodeFileEntry,
  encodeFileEntry,
  fromDosDateTime,
  toDosDateTime,
} from '../../../../src/windows/cab/file-entry.js';
import {
  decodeHeader,
  encodeHeader,
  encodeSignatureReserve,
  FLAG_RESERVE_PRESENT,
} from '../../../../src/windows/cab/header.js';
import { encodeName, nameSegments } from '../../../../src/windows/cab/names.js';
import { UpcatError } from '../../../../src/errors.js';

test('checksum: LE words XORed, trailing bytes most significant first, aligned or not', (t) => {
  const bytes = [1, 2, 3, 4, 5, 6, 7];
  // 0x04030201 ^ (5 << 16 | 6 << 8 | 7)
  t.is(cabChecksum(Buffer.from(bytes)), 0x04060406);
  const unaligned = Buffer.from([9, ...bytes]).subarray(1);
  t.is(cabChecksum(unaligned), 0x04060406);
  t.is(cabChecksum(Buffer.from([0xff, 0xee])), 0xffee);
  t.is(cabChecksum(Buffer.from([0xab])), 0xab);
  t.is(cabChecksum(Buffer.alloc(0), 0x12345678), 0x12345678);
  t.is(cabChecksum(Buffer.from([1, 0, 0, 0]), 0x80000000), 0x80000001);
});

test('CFHEADER with the Authenticode reserve has the layout osslsigncode expects', (t) => {
  const header = encodeHeader({
    cbCabinet: 1000,
    coffFiles: 68,
    versionMinor: 3,
    versionMajor: 1,
    cFolders: 1,
    cFiles: 2,
    flags: FLAG_RESERVE_PRESENT,
    setID: 7,
    iCabinet: 0,
    cbCFFolder: 0,
    cbCFData: 0,
    abReserve: encodeSignatureReserve({ offset: 1000, length: 0 }),
  });
  t.is(header.length, 60);
  t.is(header.toString('latin1', 0, 4), 'MSCF');
  t.is(header.readUInt16LE(30), 0x0004);
  t.is(header.readUInt16LE(36), 20); // cbCFHeader
  t.is(header.readUInt8(38), 0);
  t.is(header.readUInt8(39), 0);
  t.is(header.readUInt32LE(40), 0x00100000);
  t.is(header.readUInt32LE(44), 1000); // signature offset = cbCabinet
  t.is(header.readUInt32LE(48), 0); // signature length, patched by the signer
  t.deepEqual([...header.subarray(52, 60)], [0, 0, 0, 0, 0, 0, 0, 0]);
  const back = decodeHeader(Buffer.concat([header, Buffer.alloc(940)]), 1000);
  t.is(back.cbCabinet, 1000);
  t.is(back.setID, 7);
  t.deepEqual(back.abReserve, header.subarray(40, 60));
});

test('CFFILE round-trips, names end at the first NUL', (t) => {
  const name = Buffer.from('dir\\a.txt');
  const bytes = encodeFileEntry({
    cbFile: 70000,
    uoffFolderStart: 5,
    iFolder: 2,
    date: 0x5a21,
    time: 0x6000,
    attribs: 0x20,
    name,
  });
  t.is(bytes.length, 16 + name.length + 1);
  const { entry, next } = decodeFileEntry(Buffer.concat([bytes, Buffer.from('junk')]), 0, 0);
  t.is(next, bytes.length);
  t.deepEqual(entry.name, name);
  t.is(entry.cbFile, 70000);
  t.is(entry.iFolder, 2);
});

test('DOS date/time in UTC, two-second precision, clamped to 1980..2107', (t) => {
  const when = new Date(Date.UTC(2026, 11, 3, 13, 45, 31));
  const { date, time } = toDosDateTime(when);
  t.is(date, ((2026 - 1980) << 9) | (12 << 5) | 3);
  t.is(time, (13 << 11) | (45 << 5) | 15);
  t.deepEqual(fromDosDateTime(date, time), new Date(Date.UTC(2026, 11, 3, 13, 45, 30)));
  t.deepEqual(toDosDateTime(new Date(Date.UTC(1970, 0, 1))), { date: (1 << 5) | 1, time: 0 });
});

test('names: separators become backslashes, UTF-8 flagged, traversal refused', (t) => {
  t.deepEqual(encodeName('a/b\\c.txt').bytes.toString(), 'a\\b\\c.txt');
  t.false(encodeName('plain.txt').utf8);
  t.true(encodeName('héllo.txt').utf8);
  for (const bad of [
    '',
    '/abs',
    '\\abs',
    'a/../b',
    '..',
    'a//b',
    './a',
    'C:\\x',
    'a\u0001b',
    'x'.repeat(256),
  ]) {
    const err = t.throws(() => encodeName(bad), { instanceOf: UpcatError });
    t.is(err?.code, 'invalid_input', bad);
    t.is(err?.details?.['reason'], 'bad_name', bad);
  }
  t.deepEqual(nameSegments('a\\b/c'), ['a', 'b', 'c']);
});
