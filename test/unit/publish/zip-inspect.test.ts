import { crc32 } from 'node:zlib';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { UpcatError } from '../../../src/errors.js';
import { buildPackage } from '../../../src/publish/package.js';
import {
  PACKAGE_MANIFEST_NAME,
  serializePackageManifest,
  type PackageFile,
} from '../../../src/publish/package-manifest.js';
import { inspectZip } from '../../../src/publish/zip-inspect.js';
import { craftZip, type RawEntry } from '../../helpers/zip.js';

const limits = { maxEntries: 100, maxManifestBytes: 64 * 1024 };

async function tempDir(t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'upcat-zip-inspect-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function writeZip(t: ExecutionContext, entries: RawEntry[]): Promise<string> {
  const file = path.join(await tempDir(t), 'crafted.zip');
  await writeFile(file, craftZip(entries));
  return file;
}

function manifestEntry(files: PackageFile[]): RawEntry {
  const text = serializePackageManifest({
    format: 'upcat-package/1',
    name: 'Crafted',
    version: '1.0',
    files,
  });
  return { name: PACKAGE_MANIFEST_NAME, data: text };
}

const fileA: PackageFile = { path: 'a.txt', size: 3, sha256: 'a'.repeat(64), mode: 0o644 };
const fileB: PackageFile = { path: 'bin/b', size: 2, sha256: 'b'.repeat(64), mode: 0o755 };

test('a package built by buildPackage: its manifest and entries', async (t) => {
  const root = await tempDir(t);
  const dir = path.join(root, 'build');
  await mkdir(path.join(dir, 'bin'), { recursive: true });
  await writeFile(path.join(dir, 'bin', 'client'), 'binary');
  await writeFile(path.join(dir, 'readme.txt'), 'hello');
  const built = await buildPackage({
    dir,
    name: 'Contoso Client',
    version: '5.0.1',
    out: path.join(root, 'p.zip'),
  });

  const result = await inspectZip(built.path, limits);
  t.true(result.isZip);
  t.is(result.packageManifest?.name, 'Contoso Client');
  t.is(result.packageManifest?.version, '5.0.1');
  t.deepEqual(
    result.packageManifest?.files.map((f) => [f.path, f.size]),
    [
      ['bin/client', 6],
      ['readme.txt', 5],
    ],
  );
  t.deepEqual(result.entries, [
    { path: PACKAGE_MANIFEST_NAME, size: result.entries[0]?.size ?? -1 },
    { path: 'bin/client', size: 6 },
    { path: 'readme.txt', size: 5 },
  ]);
});

test('a file that is not a zip', async (t) => {
  const root = await tempDir(t);
  const exe = path.join(root, 'setup.exe');
  await writeFile(exe, Buffer.from('MZ\x90\x00 this is a program', 'latin1'));
  t.deepEqual(await inspectZip(exe, limits), { isZip: false, entries: [] });
  const empty = path.join(root, 'empty');
  await writeFile(empty, '');
  t.deepEqual(await inspectZip(empty, limits), { isZip: false, entries: [] });
});

test('a missing file is a filesystem error, not bad input', async (t) => {
  const err = await t.throwsAsync(inspectZip(path.join(await tempDir(t), 'nope.zip'), limits));
  t.false(err instanceof UpcatError);
  t.is((err as NodeJS.ErrnoException).code, 'ENOENT');
});

test('a zip without a manifest lists its files, not its directories', async (t) => {
  const file = await writeZip(t, [
    { name: 'docs/' },
    { name: 'docs/a.txt', data: 'abc' },
    { name: 'b.bin', data: 'xy' },
  ]);
  t.deepEqual(await inspectZip(file, limits), {
    isZip: true,
    entries: [
      { path: 'docs/a.txt', size: 3 },
      { path: 'b.bin', size: 2 },
    ],
  });
});

test('an empty zip', async (t) => {
  t.deepEqual(await inspectZip(await writeZip(t, []), limits), { isZip: true, entries: [] });
});

const unsafeNames: Array<[string | Buffer, RegExp]> = [
  ['../evil', /^package entry "\.\.\/evil": path traversal \("\.\.\/evil"\) is not allowed$/],
  ['a/../../evil', /^package entry "a\/\.\.\/\.\.\/evil": path traversal/],
  ['/etc/cron.d/evil', /^package entry "\/etc\/cron\.d\/evil": absolute path/],
  ['C:/Windows/evil.dll', /^package entry "C:\/Windows\/evil\.dll": drive letter/],
  ['..\\evil', /^package entry "\.\.\\\\evil": backslash/],
  [Buffer.from('..\\evil', 'latin1'), /^package entry "\.\.\\\\evil": backslash/],
  ['a\0b', /control character/],
  ['../', /^package entry "\.\.\/": path traversal/],
];

for (const [name, message] of unsafeNames) {
  test(`refuses the entry name ${JSON.stringify(name.toString())}${Buffer.isBuffer(name) ? ' (not UTF-8 flagged)' : ''}`, async (t) => {
    const file = await writeZip(t, [
      { name: 'ok.txt', data: 'fine' },
      { name, data: 'evil' },
    ]);
    const err = await t.throwsAsync(inspectZip(file, limits), { instanceOf: UpcatError, message });
    t.is(err?.code, 'invalid_input');
  });
}

test('refuses a symlink entry', async (t) => {
  const file = await writeZip(t, [{ name: 'link', data: '/etc/passwd', unixMode: 0o120777 }]);
  await t.throwsAsync(inspectZip(file, limits), {
    message: 'package entry "link": symbolic links are not allowed',
  });
});

test('refuses a name that appears twice', async (t) => {
  const file = await writeZip(t, [
    { name: 'a.txt', data: '1' },
    { name: 'a.txt', data: '2' },
  ]);
  await t.throwsAsync(inspectZip(file, limits), { message: /"a\.txt": the name appears twice/ });
});

test('refuses a Unicode path extra field that names another path', async (t) => {
  const plain = Buffer.from('safe.txt', 'latin1');
  const unicode = Buffer.from('../evil', 'utf8');
  const data = Buffer.alloc(5);
  data.writeUInt8(1, 0);
  data.writeUInt32LE(crc32(plain), 1);
  const header = Buffer.alloc(4);
  header.writeUInt16LE(0x7075, 0);
  header.writeUInt16LE(data.length + unicode.length, 2);
  const extra = Buffer.concat([header, data, unicode]);
  const file = await writeZip(t, [{ name: plain, data: 'x', extra }]);
  await t.throwsAsync(inspectZip(file, limits), {
    message:
      /^package entry "safe\.txt": its Unicode path extra field names another path \("\.\.\/evil"\)/,
  });
});

test('a crafted package whose manifest matches its entries', async (t) => {
  const file = await writeZip(t, [
    manifestEntry([fileA, fileB]),
    { name: 'a.txt', data: 'abc' },
    { name: 'bin/', data: '' },
    { name: 'bin/b', data: 'xy' },
  ]);
  const result = await inspectZip(file, limits);
  t.deepEqual(result.packageManifest?.files, [fileA, fileB]);
});

test('refuses a manifest that lists a missing entry', async (t) => {
  const file = await writeZip(t, [manifestEntry([fileA, fileB]), { name: 'a.txt', data: 'abc' }]);
  await t.throwsAsync(inspectZip(file, limits), {
    instanceOf: UpcatError,
    message: 'package entry "bin/b": listed in upcat-package.json but missing from the archive',
  });
});

test('refuses a manifest whose size disagrees with the entry', async (t) => {
  const file = await writeZip(t, [
    manifestEntry([fileA, fileB]),
    { name: 'a.txt', data: 'abcd' },
    { name: 'bin/b', data: 'xy' },
  ]);
  await t.throwsAsync(inspectZip(file, limits), {
    message: 'package entry "a.txt": 4 bytes in the archive, 3 in upcat-package.json',
  });
});

test('refuses an entry that the manifest does not list', async (t) => {
  const file = await writeZip(t, [
    manifestEntry([fileA]),
    { name: 'a.txt', data: 'abc' },
    { name: 'payload.sh', data: 'rm -rf /' },
  ]);
  await t.throwsAsync(inspectZip(file, limits), {
    message: 'package entry "payload.sh": in the archive but not listed in upcat-package.json',
  });
});

test('refuses a manifest that is not valid', async (t) => {
  const file = await writeZip(t, [
    { name: PACKAGE_MANIFEST_NAME, data: '{"format":"upcat-package/1"}' },
  ]);
  await t.throwsAsync(inspectZip(file, limits), {
    instanceOf: UpcatError,
    message: /^package upcat-package\.json: /,
  });
});

test('refuses too many entries', async (t) => {
  const file = await writeZip(
    t,
    Array.from({ length: 5 }, (_, i) => ({ name: `f${i}`, data: 'x' })),
  );
  const err = await t.throwsAsync(inspectZip(file, { ...limits, maxEntries: 4 }), {
    instanceOf: UpcatError,
    message: 'zip archive has 5 entries; the limit is 4',
  });
  t.is(err?.code, 'too_large');
  await t.notThrowsAsync(inspectZip(file, { ...limits, maxEntries: 5 }));
});

test('refuses a manifest over the size limit', async (t) => {
  const file = await writeZip(t, [manifestEntry([fileA]), { name: 'a.txt', data: 'abc' }]);
  const err = await t.throwsAsync(inspectZip(file, { ...limits, maxManifestBytes: 100 }), {
    instanceOf: UpcatError,
    message: /^package entry "upcat-package\.json": larger than the limit of 100 bytes$/,
  });
  t.is(err?.code, 'too_large');
});

test('a damaged zip is bad input', async (t) => {
  const whole = craftZip([{ name: 'a.txt', data: 'abc' }]);
  const file = path.join(await tempDir(t), 'truncated.zip');
  await writeFile(file, whole.subarray(0, whole.length - 10));
  const err = await t.throwsAsync(inspectZip(file, limits), {
    instanceOf: UpcatError,
    message: /^zip archive is damaged: /,
  });
  t.is(err?.code, 'invalid_input');
});
