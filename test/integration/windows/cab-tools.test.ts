/**
 * The CAB writer and reader against independent tools: gcab (GNOME) and cabextract (libmspack).
 * Our cabinets must list, extract byte-identically and test clean with both; a corrupted
 * checksum must make gcab (and our reader) refuse; cabinets made by gcab must read back.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import fc from 'fast-check';
import { UpcatError } from '../../../src/errors.js';
import {
  extractCab,
  readCab,
  readCabEntry,
  type CabInputFile,
} from '../../../src/windows/cab/index.js';
import { writeCab } from '../../../src/windows/cab/writer.js';

const run = promisify(execFile);
let dir: string;
let counter = 0;
test.before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'upcat-cab-tools-'));
});
test.after.always(async () => {
  await rm(dir, { recursive: true, force: true });
});

function text(bytes: number, seed: number): Buffer {
  let s = seed >>> 0 || 1;
  const out = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = s % 7 === 0 ? 0x20 : 0x61 + ((s >>> 8) % 12);
  }
  return out;
}

const FILES: { name: string; data: Buffer }[] = [
  { name: 'catalog.xml', data: Buffer.from('<?xml version="1.0"?><catalog/>\n') },
  { name: 'large.txt', data: text(150_000, 7) }, // several blocks, history used
  {
    name: 'random.bin',
    data: Buffer.from(Array.from({ length: 40_000 }, (_, i) => (i * 2654435761) >>> 24)),
  },
  { name: 'empty.dat', data: Buffer.alloc(0) },
  { name: 'nön-ascii ü.txt', data: Buffer.from('grüße\n') },
  { name: 'sub/dir/deep.txt', data: text(5000, 3) },
];

async function writeOurs(
  files: { name: string; data: Buffer }[],
  options: Parameters<typeof writeCab>[2] = {},
  limits?: Parameters<typeof writeCab>[3],
): Promise<string> {
  const out = path.join(dir, `ours-${counter++}.cab`);
  const inputs: CabInputFile[] = files.map((f) => ({ name: f.name, source: f.data }));
  await writeCab(
    inputs,
    out,
    { mtime: new Date(Date.UTC(2025, 5, 1, 12, 0, 0)), ...options },
    limits,
  );
  return out;
}

/** gcab -x into a fresh directory, then byte comparison of every file with cmp. */
async function gcabExtractsSame(
  cab: string,
  files: { name: string; data: Buffer }[],
): Promise<void> {
  const out = path.join(dir, `gcab-x-${counter++}`);
  const originals = path.join(dir, `orig-${counter++}`);
  await mkdir(out);
  await run('gcab', ['-x', '-C', out, cab]);
  for (const f of files) {
    const original = path.join(originals, f.name.replace(/\\/g, '/'));
    await mkdir(path.dirname(original), { recursive: true });
    await writeFile(original, f.data);
    await run('cmp', [original, path.join(out, f.name.replace(/\\/g, '/'))]);
  }
}

for (const [label, options] of [
  ['MSZIP', {}],
  ['stored', { compression: 'none' }],
  ['MSZIP with the signature reserve', { signatureReserve: true }],
] as const) {
  test(`${label}: gcab -l -v lists it, gcab -x + cmp gives the same bytes, cabextract -t passes`, async (t) => {
    const cab = await writeOurs(FILES, options);
    const { stdout: listing } = await run('gcab', ['-l', '-v', cab]);
    for (const f of FILES) {
      t.regex(
        listing,
        new RegExp(`^${escape(f.name.replace(/\//g, '\\'))}\\s+${f.data.length}\\s`, 'm'),
        f.name,
      );
    }
    t.regex(listing, /^nön-ascii ü\.txt\s+\d+\s+\S+ \S+\s+0xA0$/m, 'NAME_IS_UTF set');
    await gcabExtractsSame(cab, FILES);
    const { stdout: tested } = await run('cabextract', ['-t', cab]);
    t.regex(tested, /All done, no errors/);
    t.is(tested.match(/ OK /g)?.length, FILES.length);
  });
}

test('a corrupted CFDATA checksum makes gcab refuse the file, and our reader too', async (t) => {
  const cab = await writeOurs(FILES);
  const bytes = await readFile(cab);
  const dataStart = bytes.readUInt32LE(36);
  bytes[dataStart] = (bytes[dataStart] as number) ^ 0x01;
  const bad = path.join(dir, 'bad-csum.cab');
  await writeFile(bad, bytes);
  const out = path.join(dir, 'gcab-bad');
  await mkdir(out);
  const err = await t.throwsAsync(run('gcab', ['-x', '-C', out, bad]));
  t.regex(String((err as { stderr?: string } | undefined)?.stderr), /checksum/i);
  const ours = await t.throwsAsync(readCabEntry(bad, 'catalog.xml', { maxBytes: 1e6 }), {
    instanceOf: UpcatError,
  });
  t.is(ours?.details?.['reason'], 'bad_checksum');
  await t.throwsAsync(run('cabextract', ['-t', bad]));
});

for (const compress of [false, true]) {
  test(`our reader reads a cabinet made by gcab -c${compress ? ' -z' : ''}`, async (t) => {
    const src = path.join(dir, `gcab-src-${counter++}`);
    const names = FILES.filter((f) => !f.name.includes('/'));
    await mkdir(src);
    for (const f of names) await writeFile(path.join(src, f.name), f.data);
    const cab = path.join(dir, `gcab-${counter++}.cab`);
    await run('sh', [
      '-c',
      `cd "${src}" && gcab -c ${compress ? '-z' : ''} "${cab}" ${names.map((f) => `'${f.name}'`).join(' ')}`,
    ]);
    const listed = await readCab(cab);
    t.is(listed.folders[0]?.compression, compress ? 'mszip' : 'none');
    // gcab writes real checksums, so reading below verifies them with our routine.
    const raw = await readFile(cab);
    t.not(raw.readUInt32LE(listed.folders[0]?.dataOffset ?? 0), 0);
    t.deepEqual(
      listed.files.map((f) => [f.name, f.size]),
      names.map((f) => [f.name, f.data.length]),
    );
    const dest = path.join(dir, `ours-x-${counter++}`);
    const extracted = await extractCab(listed, dest);
    t.is(extracted.length, names.length);
    for (const f of names) t.deepEqual(await readFile(path.join(dest, f.name)), f.data, f.name);
  });
}

test('osslsigncode signs our cabinet; the signed file still reads, with the signature slot decoded', async (t) => {
  const cab = await writeOurs(FILES);
  const key = path.join(dir, 'sign-key.pem');
  const cert = path.join(dir, 'sign-cert.pem');
  await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    key,
    '-out',
    cert,
    '-days',
    '1',
    '-subj',
    '/CN=upcat cab test',
    '-addext',
    'extendedKeyUsage=codeSigning',
  ]);
  const signed = path.join(dir, 'signed.cab');
  await run('osslsigncode', [
    'sign',
    '-certs',
    cert,
    '-key',
    key,
    '-h',
    'sha256',
    '-in',
    cab,
    '-out',
    signed,
  ]);
  const listed = await readCab(signed);
  const slot = listed.header.signature;
  t.truthy(slot);
  t.is(slot?.offset, listed.header.cabinetBytes);
  t.is((slot?.offset ?? 0) + (slot?.length ?? 0), listed.fileBytes);
  for (const f of FILES) t.deepEqual(await readCabEntry(listed, f.name, { maxBytes: 1e6 }), f.data);
  await gcabExtractsSame(signed, FILES);

  // In place: the cabinet written with signatureReserve is byte for byte what osslsigncode makes
  // of the unreserved one, up to the signature length at 48; appending the signature and
  // patching that length gives osslsigncode's signed file, which verifies.
  const reserved = await readFile(await writeOurs(FILES, { signatureReserve: true }));
  const theirs = await readFile(signed);
  t.is(reserved.length, listed.header.cabinetBytes);
  t.is(reserved.readUInt32LE(48), 0);
  const patched = Buffer.concat([reserved, theirs.subarray(reserved.length)]);
  patched.writeUInt32LE(theirs.readUInt32LE(48), 48);
  t.true(patched.equals(theirs));
  const inPlace = path.join(dir, 'signed-in-place.cab');
  await writeFile(inPlace, patched);
  const { stdout } = await run('osslsigncode', ['verify', '-CAfile', cert, '-in', inPlace]);
  t.regex(stdout, /Signature verification: ok/);
});

test('a payload over several folders (3 blocks per folder here): gcab, cabextract and our reader agree', async (t) => {
  const files = [
    { name: 'one.txt', data: text(90_000, 11) },
    { name: 'two.txt', data: text(70_000, 12) },
    { name: 'three.txt', data: text(98_304, 13) }, // exactly one full folder
    { name: 'four.txt', data: text(10, 14) },
  ];
  const cab = await writeOurs(files, {}, { maxBlocksPerFolder: 3 });
  const listed = await readCab(cab);
  t.is(listed.folders.length, 4);
  t.deepEqual(
    listed.files.map((f) => f.folderIndex),
    [0, 1, 2, 3],
  );
  await gcabExtractsSame(cab, files);
  const { stdout } = await run('cabextract', ['-t', cab]);
  t.regex(stdout, /All done, no errors/);
  const dest = path.join(dir, `multi-${counter++}`);
  await extractCab(cab, dest);
  for (const f of files) t.deepEqual(await readFile(path.join(dest, f.name)), f.data);
});

test('property: random file sets round-trip writer -> reader and writer -> gcab', async (t) => {
  const segment = fc
    .stringMatching(/^[A-Za-z0-9_\-é中][A-Za-z0-9_. \-é中]{0,11}$/)
    .filter((s) => !s.endsWith('.') && !s.endsWith(' '));
  const fileArb = fc.record({
    name: fc.array(segment, { minLength: 1, maxLength: 3 }).map((parts) => parts.join('/')),
    size: fc.oneof(
      fc.constant(0),
      fc.integer({ min: 1, max: 100 }),
      fc.integer({ min: 32_760, max: 100_000 }),
    ),
    seed: fc.integer({ min: 1, max: 0x7fffffff }),
    random: fc.boolean(),
  });
  await fc.assert(
    fc.asyncProperty(
      fc.uniqueArray(fileArb, {
        minLength: 1,
        maxLength: 6,
        selector: (f) => f.name.toLowerCase(),
      }),
      fc.constantFrom<'mszip' | 'none'>('mszip', 'none'),
      fc.boolean(),
      async (specs, compression, signatureReserve) => {
        // A name may not be both a file and a directory of another.
        const names = specs.map((s) => s.name.toLowerCase());
        fc.pre(!names.some((n) => names.some((m) => m.startsWith(`${n}/`))));
        const files = specs.map((s) => ({
          name: s.name,
          data: s.random
            ? Buffer.from(Array.from({ length: s.size }, (_, i) => (i * s.seed) >>> 13))
            : text(s.size, s.seed),
        }));
        const cab = await writeOurs(
          files,
          { compression, signatureReserve },
          { maxBlocksPerFolder: 4 },
        );
        const listed = await readCab(cab);
        for (const f of files) {
          t.deepEqual(await readCabEntry(listed, f.name, { maxBytes: 1e6 }), f.data);
        }
        await gcabExtractsSame(cab, files);
      },
    ),
    { numRuns: 12 },
  );
  t.pass();
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
