import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import {
  chmod,
  mkdir,
  mkdtemp,
  readFile,
  readdir,
  rm,
  symlink,
  utimes,
  writeFile,
} from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import test, { type ExecutionContext } from 'ava';
import yauzl from 'yauzl';
import { UpcatError } from '../../../src/errors.js';
import { buildPackage } from '../../../src/publish/package.js';
import {
  PACKAGE_MANIFEST_NAME,
  parsePackageManifest,
  serializePackageManifest,
  type PackageManifest,
} from '../../../src/publish/package-manifest.js';

const SRC_PACKAGE = new URL('../../../src/publish/package.ts', import.meta.url).href;

/** The client build used by most tests: path -> [content, executable]. */
const BUILD: Record<string, [string | Buffer, boolean]> = {
  'setup.sh': ['#!/bin/sh\necho install\n', true],
  'bin/client': [Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0, 1, 2, 3]), true],
  'lib/b.txt': ['b', false],
  'lib/a.txt': ['a', false],
  'lib.txt': ['sorts between "lib/" and "lib0" by bytes', false],
  'empty.dat': ['', false],
  'docs/naïve.md': ['# unicode name\n', false],
  'data/big.bin': [Buffer.alloc(200_000, 7), false],
};

async function tempDir(t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'upcat-package-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Writes BUILD under `dir`, in the given order, with the given mtime and permission bits. */
async function writeBuild(
  dir: string,
  order: string[],
  opts: { mtime: Date; fileMode: number; execMode: number },
): Promise<void> {
  for (const rel of order) {
    const [content, executable] = BUILD[rel] ?? ['', false];
    const abs = path.join(dir, rel);
    await mkdir(path.dirname(abs), { recursive: true });
    await writeFile(abs, content);
    await chmod(abs, executable ? opts.execMode : opts.fileMode);
    await utimes(abs, opts.mtime, opts.mtime);
  }
}

async function sampleBuild(t: ExecutionContext): Promise<string> {
  const dir = path.join(await tempDir(t), 'build');
  await writeBuild(dir, Object.keys(BUILD), {
    mtime: new Date('2024-05-06T07:08:09Z'),
    fileMode: 0o644,
    execMode: 0o755,
  });
  return dir;
}

interface Unzipped {
  names: string[];
  data: Map<string, Buffer>;
  entries: Map<string, yauzl.Entry>;
}

async function unzip(file: string): Promise<Unzipped> {
  const zip = await yauzl.openPromise(file, { lazyEntries: true, strictFileNames: true });
  const out: Unzipped = { names: [], data: new Map(), entries: new Map() };
  try {
    for await (const entry of zip.eachEntry()) {
      const chunks: Buffer[] = [];
      for await (const chunk of await zip.openReadStreamPromise(entry))
        chunks.push(chunk as Buffer);
      out.names.push(entry.fileName);
      out.data.set(entry.fileName, Buffer.concat(chunks));
      out.entries.set(entry.fileName, entry);
    }
  } finally {
    zip.close();
  }
  return out;
}

function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

const base = { name: 'Contoso Client', version: '5.0.1' };

test('packages a build: manifest first, then every file in byte order', async (t) => {
  const dir = await sampleBuild(t);
  const out = path.join(await tempDir(t), 'nested', 'deeper', 'client.zip');
  const result = await buildPackage({ ...base, dir, out });

  const bytes = await readFile(out);
  t.is(result.path, out);
  t.is(result.size, bytes.length);
  t.is(result.sha256, sha256(bytes));
  t.is(result.fileCount, Object.keys(BUILD).length);

  const zip = await unzip(out);
  t.deepEqual(zip.names, [
    PACKAGE_MANIFEST_NAME,
    'bin/client',
    'data/big.bin',
    'docs/naïve.md',
    'empty.dat',
    'lib.txt',
    'lib/a.txt',
    'lib/b.txt',
    'setup.sh',
  ]);
  for (const [rel, [content]] of Object.entries(BUILD)) {
    t.deepEqual(zip.data.get(rel), Buffer.from(content), rel);
  }
});

test('the manifest lists each file with its size, SHA-256 and mode', async (t) => {
  const dir = await sampleBuild(t);
  const out = path.join(await tempDir(t), 'client.zip');
  await buildPackage({ ...base, dir, out });

  const zip = await unzip(out);
  const text = zip.data.get(PACKAGE_MANIFEST_NAME)?.toString('utf8') ?? '';
  const manifest = parsePackageManifest(text);
  t.is(serializePackageManifest(manifest), text, 'stored in canonical form');
  t.is(manifest.format, 'upcat-package/1');
  t.is(manifest.name, base.name);
  t.is(manifest.version, base.version);
  t.deepEqual(
    manifest.files.map((f) => f.path),
    zip.names.slice(1),
  );
  for (const file of manifest.files) {
    const [content, executable] = BUILD[file.path] ?? ['', false];
    t.is(file.size, Buffer.byteLength(content), file.path);
    t.is(file.sha256, sha256(content), file.path);
    t.is(file.mode, executable ? 0o755 : 0o644, file.path);
  }
});

test('entries carry fixed dates, fixed modes and no extra fields', async (t) => {
  const dir = await sampleBuild(t);
  const out = path.join(await tempDir(t), 'client.zip');
  await buildPackage({ ...base, dir, out });

  for (const [name, entry] of (await unzip(out)).entries) {
    t.is(entry.getLastModDate({ timezone: 'UTC' }).toISOString(), '1980-01-01T00:00:00.000Z');
    t.is(entry.extraFieldLength, 0, `${name} has no extra fields`);
    t.is(entry.versionMadeBy >> 8, 3, `${name} is made on unix, so modes are kept`);
    const executable = BUILD[name]?.[1] ?? false;
    t.is((entry.externalFileAttributes >>> 16) & 0o7777, executable ? 0o755 : 0o644, name);
  }
});

test('deterministic: creation order, mtimes and permission bits do not change the bytes', async (t) => {
  const root = await tempDir(t);
  const dirA = path.join(root, 'a');
  const dirB = path.join(root, 'other-name');
  const order = Object.keys(BUILD);
  await writeBuild(dirA, order, {
    mtime: new Date('2001-02-03T04:05:06Z'),
    fileMode: 0o644,
    execMode: 0o755,
  });
  // As a different umask and a different checkout would leave them.
  await writeBuild(dirB, [...order].reverse(), {
    mtime: new Date('2033-12-31T23:59:59Z'),
    fileMode: 0o600,
    execMode: 0o700,
  });
  const a = await buildPackage({ ...base, dir: dirA, out: path.join(root, 'a.zip') });
  const b = await buildPackage({ ...base, dir: dirB, out: path.join(root, 'out', 'b.zip') });
  t.is(a.sha256, b.sha256);
  t.deepEqual(await readFile(a.path), await readFile(b.path));
});

test('deterministic: the same bytes in other time zones', async (t) => {
  const dir = await sampleBuild(t);
  const root = await tempDir(t);
  const here = await buildPackage({ ...base, dir, out: path.join(root, 'here.zip') });
  const run = promisify(execFile);
  // A child process, because the time zone a process starts with is what Date uses throughout.
  const script = `import { buildPackage } from ${JSON.stringify(SRC_PACKAGE)};
    await buildPackage(JSON.parse(process.env.UPCAT_TEST_OPTS));`;
  for (const tz of ['UTC', 'America/New_York', 'Pacific/Chatham']) {
    const out = path.join(root, `${tz.replace('/', '-')}.zip`);
    await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      env: { ...process.env, TZ: tz, UPCAT_TEST_OPTS: JSON.stringify({ ...base, dir, out }) },
    });
    t.deepEqual(await readFile(out), await readFile(here.path), tz);
  }
});

test('reports progress over both passes', async (t) => {
  const dir = await sampleBuild(t);
  const calls: Array<[number, number]> = [];
  await buildPackage({
    ...base,
    dir,
    out: path.join(await tempDir(t), 'p.zip'),
    onProgress: (done, total) => calls.push([done, total]),
  });
  const content = Object.values(BUILD).reduce((n, [c]) => n + Buffer.byteLength(c), 0);
  t.true(calls.length > 0);
  t.deepEqual(calls.at(-1), [2 * content, 2 * content]);
  t.true(calls.every(([done], i) => i === 0 || done >= (calls[i - 1]?.[0] ?? 0)));
});

test('rejects a symbolic link, naming it', async (t) => {
  const dir = await sampleBuild(t);
  await symlink('/etc/passwd', path.join(dir, 'lib', 'link'));
  const out = path.join(await tempDir(t), 'p.zip');
  const err = await t.throwsAsync(buildPackage({ ...base, dir, out }), { instanceOf: UpcatError });
  t.is(err?.code, 'invalid_input');
  t.is(
    err?.message,
    `${path.join(dir, 'lib', 'link')}: a symbolic link cannot be packaged; only regular files can`,
  );
  t.deepEqual(await readdir(path.dirname(out)), []);
});

test('rejects a socket, naming it', async (t) => {
  const dir = await sampleBuild(t);
  const sock = path.join(dir, 'agent.sock');
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(sock, resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  await t.throwsAsync(buildPackage({ ...base, dir, out: path.join(await tempDir(t), 'p.zip') }), {
    message: `${sock}: a socket cannot be packaged; only regular files can`,
  });
});

test('rejects a directory with no files, even with empty subdirectories', async (t) => {
  const dir = path.join(await tempDir(t), 'build');
  await mkdir(path.join(dir, 'empty', 'deeper'), { recursive: true });
  await t.throwsAsync(buildPackage({ ...base, dir, out: path.join(dir, '..', 'p.zip') }), {
    instanceOf: UpcatError,
    message: /holds no files/,
  });
});

test('rejects a missing directory and a file given as the directory', async (t) => {
  const root = await tempDir(t);
  await t.throwsAsync(
    buildPackage({ ...base, dir: path.join(root, 'nope'), out: path.join(root, 'p.zip') }),
    {
      message: /does not exist/,
    },
  );
  await writeFile(path.join(root, 'file'), 'x');
  await t.throwsAsync(
    buildPackage({ ...base, dir: path.join(root, 'file'), out: path.join(root, 'p.zip') }),
    {
      message: /is not a directory/,
    },
  );
});

test('rejects a file named like the manifest and a name with a backslash', async (t) => {
  const dir = await sampleBuild(t);
  const out = path.join(await tempDir(t), 'p.zip');
  await writeFile(path.join(dir, PACKAGE_MANIFEST_NAME), '{}');
  await t.throwsAsync(buildPackage({ ...base, dir, out }), {
    message: /reserved for the package manifest/,
  });
  await rm(path.join(dir, PACKAGE_MANIFEST_NAME));
  await writeFile(path.join(dir, 'lib', 'a\\b'), 'x');
  await t.throwsAsync(buildPackage({ ...base, dir, out }), {
    message: /backslash in "lib\/a\\\\b"/,
  });
});

test('rejects an output inside the directory being packaged', async (t) => {
  const dir = await sampleBuild(t);
  await t.throwsAsync(buildPackage({ ...base, dir, out: path.join(dir, 'out', 'p.zip') }), {
    message: /is inside the directory being packaged/,
  });
  t.deepEqual((await readdir(dir)).sort(), [
    'bin',
    'data',
    'docs',
    'empty.dat',
    'lib',
    'lib.txt',
    'setup.sh',
  ]);
});

test('rejects an output that is an existing directory', async (t) => {
  const dir = await sampleBuild(t);
  const out = await tempDir(t);
  await t.throwsAsync(buildPackage({ ...base, dir, out }), {
    instanceOf: UpcatError,
    message: `out: ${out} is a directory`,
  });
  t.deepEqual(await readdir(out), []);
});

const badNames = ['', 'x'.repeat(129), 'tab\there', 'nul\0'];
for (const name of badNames) {
  test(`rejects the name ${JSON.stringify(name.slice(0, 20))}`, async (t) => {
    const dir = await sampleBuild(t);
    const err = await t.throwsAsync(
      buildPackage({ ...base, name, dir, out: path.join(await tempDir(t), 'p.zip') }),
      { instanceOf: UpcatError, message: /^name: / },
    );
    t.is(err?.code, 'invalid_input');
  });
}

const badVersions = [
  '',
  '5',
  '1.2.3.4.5',
  'v5.0',
  '5.0-beta',
  '5..0',
  '5.0.',
  ' 5.0',
  '1234567890',
];
for (const version of badVersions) {
  test(`rejects the version ${JSON.stringify(version)}`, async (t) => {
    const dir = await sampleBuild(t);
    const out = path.join(await tempDir(t), 'p.zip');
    if (version === '5') {
      // One part is a valid version: the counterexample that keeps the others honest.
      await t.notThrowsAsync(buildPackage({ ...base, version, dir, out }));
      return;
    }
    await t.throwsAsync(buildPackage({ ...base, version, dir, out }), {
      instanceOf: UpcatError,
      message: /^version: .* is not a version of 1 to 4 dot-separated numbers/,
    });
  });
}

test('a run that fails while writing leaves no file, and keeps the previous one', async (t) => {
  const dir = await sampleBuild(t);
  const outDir = await tempDir(t);
  const out = path.join(outDir, 'p.zip');
  await writeFile(out, 'previous package');
  let changed = false;
  const err = await t.throwsAsync(
    buildPackage({
      ...base,
      dir,
      out,
      // Once the hashing pass is done, change a file that the archiving pass has yet to read.
      onProgress: (done, total) => {
        if (!changed && done >= total / 2) {
          changed = true;
          writeFileSync(path.join(dir, 'setup.sh'), '#!/bin/sh\necho tampered\n');
        }
      },
    }),
    { instanceOf: UpcatError },
  );
  t.true(changed);
  t.is(err?.message, `${path.join(dir, 'setup.sh')}: the file changed while it was being packaged`);
  t.deepEqual(await readdir(outDir), ['p.zip']);
  t.is(await readFile(out, 'utf8'), 'previous package');
});

test('manifest parser: accepts its own output and refuses unknown fields', (t) => {
  const manifest: PackageManifest = {
    format: 'upcat-package/1',
    name: 'n',
    version: '1.0',
    files: [
      { path: 'z', size: 1, sha256: 'a'.repeat(64), mode: 0o644 },
      { path: 'a/b', size: 0, sha256: 'b'.repeat(64), mode: 0o755 },
    ],
  };
  const text = serializePackageManifest(manifest);
  t.is(
    text,
    '{\n  "format": "upcat-package/1",\n  "name": "n",\n  "version": "1.0",\n  "files": [\n' +
      `    {\n      "path": "a/b",\n      "size": 0,\n      "sha256": "${'b'.repeat(64)}",\n      "mode": 493\n    },\n` +
      `    {\n      "path": "z",\n      "size": 1,\n      "sha256": "${'a'.repeat(64)}",\n      "mode": 420\n    }\n  ]\n}\n`,
  );
  t.deepEqual(
    parsePackageManifest(text).files.map((f) => f.path),
    ['a/b', 'z'],
  );

  const withExtra = JSON.stringify({ ...JSON.parse(text), signedBy: 'me' });
  t.throws(() => parsePackageManifest(withExtra), {
    message: /upcat-package\.json: Unrecognized key: "signedBy"/,
  });
});

const badManifests: Array<[string, unknown, RegExp]> = [
  ['not JSON', '{', /not valid JSON/],
  ['wrong format', { format: 'zip/2' }, /format: must be "upcat-package\/1"/],
  ['no files', { files: [] }, /files: a package holds at least one file/],
  [
    'bad digest',
    { files: [{ path: 'a', size: 1, sha256: 'ABC', mode: 420 }] },
    /files\[0\]\.sha256: must be 64 lowercase/,
  ],
  [
    'bad mode',
    { files: [{ path: 'a', size: 1, sha256: 'a'.repeat(64), mode: 0o777 }] },
    /files\[0\]\.mode: must be 493/,
  ],
  [
    'negative size',
    { files: [{ path: 'a', size: -1, sha256: 'a'.repeat(64), mode: 420 }] },
    /files\[0\]\.size/,
  ],
  [
    'extra file field',
    { files: [{ path: 'a', size: 1, sha256: 'a'.repeat(64), mode: 420, mtime: 0 }] },
    /files\[0\]: Unrecognized key: "mtime"/,
  ],
  [
    'traversal',
    { files: [{ path: '../a', size: 1, sha256: 'a'.repeat(64), mode: 420 }] },
    /files\[0\]\.path: path traversal/,
  ],
  [
    'duplicate',
    { files: [1, 2].map(() => ({ path: 'a', size: 1, sha256: 'a'.repeat(64), mode: 420 })) },
    /files\[1\]\.path: "a" is listed twice/,
  ],
  [
    'file and dir',
    { files: ['a', 'a/b'].map((p) => ({ path: p, size: 1, sha256: 'a'.repeat(64), mode: 420 })) },
    /"a" is both a file and the directory of "a\/b"/,
  ],
  [
    'reserved',
    { files: [{ path: PACKAGE_MANIFEST_NAME, size: 1, sha256: 'a'.repeat(64), mode: 420 }] },
    /is reserved/,
  ],
  ['bad version', { version: 'latest' }, /version: "latest" is not a version/],
];

for (const [title, patch, message] of badManifests) {
  test(`manifest parser: refuses ${title}`, (t) => {
    const good = {
      format: 'upcat-package/1',
      name: 'n',
      version: '1.0',
      files: [{ path: 'a', size: 1, sha256: 'a'.repeat(64), mode: 420 }],
    };
    const text =
      typeof patch === 'string' ? patch : JSON.stringify({ ...good, ...(patch as object) });
    const err = t.throws(() => parsePackageManifest(text), { instanceOf: UpcatError, message });
    t.is(err?.code, 'invalid_input');
  });
}
