/**
 * The built CLI (`npm run build`; `npm test` builds first): `upcat rules eval`,
 * `upcat import-catalog` and `upcat publish --manifest x.sdp`.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { buildCatalog } from '../unit/sdp/catalog-builder.js';
import { DELL_DRIVER, FIXTURES } from '../unit/sdp/fixtures.js';

const BIN = path.resolve(process.cwd(), 'bin/upcat.js');

function upcat(args: string[], env: NodeJS.ProcessEnv = {}) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      // Not the test runner's environment: with DATABASE_URL in it, `upcat init` would make its
      // site in the shared database's public schema, which an earlier run's site already holds
      // (its recorded site keys then refuse this home's new ones). These homes are SQLite sites.
      { env: { PATH: process.env['PATH'], HOME: process.env['HOME'], ...env } },
      (err, stdout, stderr) => {
        resolve({ code: err === null ? 0 : Number(err.code ?? 1), stdout, stderr });
      },
    );
  });
}

let dir: string;
test.before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'upcat-rules-cli-'));
  await writeFile(
    path.join(dir, 'inventory.json'),
    JSON.stringify({
      platform: { name: 'windows', version: '10.0.19045', productType: 1, architecture: 'x64' },
      files: { 'C:\\Program Files\\Contoso\\client.exe': { version: '5.0.1.0', size: 123456 } },
      msiProducts: { '{0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0}': { version: '4.2' } },
      wmi: { Win32_ComputerSystem: [{ Manufacturer: 'HP', Model: 'HP EliteDesk 800 G3 DM' }] },
    }),
  );
  await writeFile(
    path.join(dir, 'rules.json'),
    JSON.stringify({
      isInstalled: {
        MsiProductInstalled: {
          ProductCode: '{0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0}',
          VersionMin: '5.0',
        },
      },
      isInstallable: {
        And: [
          { Processor: { Architecture: 'x64' } },
          {
            WmiQuery: {
              WqlQuery:
                "SELECT * FROM Win32_ComputerSystem WHERE Model LIKE 'HP EliteDesk 800 G3%'",
            },
          },
        ],
      },
    }),
  );
  await writeFile(
    path.join(dir, 'rules.xml'),
    `<upd:ApplicabilityRules xmlns:upd="http://schemas.microsoft.com/msus/2002/12/Update" xmlns:bar="http://schemas.microsoft.com/msus/2002/12/BaseApplicabilityRules">
  <upd:IsInstallable><bar:RegKeyExists Key="HKEY_LOCAL_MACHINE" Subkey="SOFTWARE\\Contoso"/></upd:IsInstallable>
</upd:ApplicabilityRules>`,
  );
});
test.after.always(() => rm(dir, { recursive: true, force: true }));

test('rules eval --json: the three values and the why tree', async (t) => {
  const r = await upcat([
    'rules',
    'eval',
    '--rules',
    path.join(dir, 'rules.json'),
    '--inventory',
    path.join(dir, 'inventory.json'),
    '--json',
  ]);
  t.is(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as Record<string, unknown>;
  t.deepEqual(Object.keys(out), ['isInstalled', 'isInstallable', 'applicable', 'why']);
  t.like(out, { isInstalled: false, isInstallable: true, applicable: true });
  t.like(out.why, { path: 'applicability', value: true });
});

test('rules eval: XML rules, a rule the inventory cannot answer is "unknown"', async (t) => {
  const r = await upcat([
    'rules',
    'eval',
    '--rules',
    path.join(dir, 'rules.xml'),
    '--inventory',
    path.join(dir, 'inventory.json'),
    '--json',
  ]);
  t.is(r.code, 0, r.stderr);
  t.like(JSON.parse(r.stdout), {
    isInstalled: false,
    isInstallable: 'unknown',
    applicable: 'unknown',
  });
});

test('rules eval: human output names the deciding rule', async (t) => {
  const r = await upcat([
    'rules',
    'eval',
    '--rules',
    path.join(dir, 'rules.json'),
    '--inventory',
    path.join(dir, 'inventory.json'),
  ]);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /^installed: {3}false\ninstallable: true\napplicable: {2}true\nwhy:\n/);
  t.regex(r.stdout, /MsiProductInstalled: false \(MSI product version 4\.2, min 5\.0\)/);
});

test('rules eval --inventory local runs the provider of this machine', async (t) => {
  const r = await upcat([
    'rules',
    'eval',
    '--rules',
    path.join(dir, 'rules.json'),
    '--inventory',
    'local',
    '--json',
  ]);
  t.is(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { isInstalled: unknown };
  // Linux has no MSI products: a rule about one cannot be answered.
  t.is(out.isInstalled, 'unknown');
});

test('rules eval: bad input is one line on stderr and exit 2, naming the path', async (t) => {
  const bad = path.join(dir, 'bad.json');
  await writeFile(bad, JSON.stringify({ isInstallable: { And: [{ FileExist: { Path: 'x' } }] } }));
  const r = await upcat([
    'rules',
    'eval',
    '--rules',
    bad,
    '--inventory',
    path.join(dir, 'inventory.json'),
  ]);
  t.is(r.code, 2);
  t.regex(r.stderr, /^upcat: isInstallable\.And\[0\]: unknown element "FileExist"/);
  t.is(r.stderr.trim().split('\n').length, 1);
});

test('import-catalog --dry-run --json reports every package', async (t) => {
  const home = await mkdtemp(path.join(os.tmpdir(), 'upcat-catalog-home-'));
  try {
    const catalog = path.join(dir, 'catalog.xml');
    await writeFile(catalog, buildCatalog(10));
    const r = await upcat(['--home', home, 'import-catalog', catalog, '--dry-run', '--json']);
    t.is(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as {
      summary: Record<string, unknown>;
      packages: { status: string }[];
    };
    t.like(out.summary, {
      packages: 10,
      mapped: 10,
      invalid: 0,
      published: 0,
      awaitingContent: 10,
    });
    t.true(out.packages.every((p) => p.status === 'awaiting_content'));
    const human = await upcat(['--home', home, 'import-catalog', catalog, '--dry-run']);
    t.regex(
      human.stdout,
      /10 package\(s\): 10 mapped, 0 invalid, 0 published, 10 awaiting content.*\(dry run: nothing stored\)/,
    );
    const refused = await upcat(['--home', home, 'import-catalog', catalog]);
    t.is(refused.code, 2);
    t.regex(refused.stderr, /--payloads <dir>, --fetch or --metadata-only/);
  } finally {
    await rm(home, { recursive: true, force: true });
  }
});

test('publish --manifest package.sdp publishes and reports what did not map', async (t) => {
  const home = await mkdtemp(path.join(os.tmpdir(), 'upcat-sdp-home-'));
  try {
    t.is((await upcat(['--home', home, 'init'])).code, 0);
    const payload = path.join(
      dir,
      'Realtek-High-Definition-Audio-Driver_99DDD_WIN_6.0.1.8454_A02_03.EXE',
    );
    await writeFile(payload, 'MZ driver bytes');
    const r = await upcat([
      '--home',
      home,
      'publish',
      payload,
      '--manifest',
      path.join(FIXTURES, DELL_DRIVER),
      '--json',
    ]);
    t.is(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { updateId: string; sdp: { unmapped: { name: string }[] } };
    t.is(out.updateId, '0e6cf4ac-2853-48aa-825b-8fe28206575f');
    t.true(out.sdp.unmapped.some((u) => u.name === 'sdp:KBArticleID'));
  } finally {
    await rm(home, { recursive: true, force: true });
  }
});
