import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { runCli } from '../helpers/cli.js';
import { fileManifest } from '../helpers/publish.js';
import { dbTest } from '../helpers/site.js';

async function publishTwo(
  home: string,
  env: NodeJS.ProcessEnv,
): Promise<Array<{ sha256: string }>> {
  const out: Array<{ sha256: string }> = [];
  for (const [i, product] of ['Alpha', 'Beta'].entries()) {
    const payload = path.join(home, `p${i}.bin`);
    const manifest = path.join(home, `m${i}.json`);
    await writeFile(payload, `payload ${product}`);
    await writeFile(manifest, JSON.stringify(fileManifest(`p${i}.bin`, { product })));
    const res = await runCli(['publish', payload, '--manifest', manifest, '--json'], env);
    if (res.code !== 0) throw new Error(res.stderr);
    out.push(JSON.parse(res.stdout) as { sha256: string });
  }
  return out;
}

dbTest(
  'upcat verify passes on a good catalog and names a replaced payload',
  async (t, { home, env }) => {
    t.is((await runCli(['init'], env)).code, 0);
    const [first] = await publishTwo(home, env);
    const ok = await runCli(['verify', '--json'], env);
    t.is(ok.code, 0, ok.stderr);
    t.like(JSON.parse(ok.stdout), {
      ok: true,
      targets: 4,
      payloads: 2,
      signaturesChecked: 2,
      problems: [],
    });
    // tuf-js's own diagnostic log still answers DEBUG, though the build leaves the package it logs
    // through out of its bundle until DEBUG asks for it (scripts/build-dist.mjs).
    const logged = await runCli(['verify', '--json'], { ...env, DEBUG: 'tuf:*' });
    t.is(logged.code, 0, logged.stderr);
    t.regex(logged.stderr, /tuf:cache (READ|WRITE) /);

    // Arbitrary installation: another payload's bytes put in place of the first.
    const sha = first?.sha256 ?? '';
    await writeFile(path.join(home, 'packages', 'pool', sha.slice(0, 2), sha), 'payload Evil!');
    const bad = await runCli(['verify'], env);
    t.not(bad.code, 0);
    t.regex(bad.stdout, new RegExp(`problem: payloads/${sha}: `));
    t.regex(bad.stderr, /catalog verification failed: 1 problem/);
  },
);

dbTest('upcat verify fails on tampered timestamp metadata', async (t, { home, env }) => {
  t.is((await runCli(['init'], env)).code, 0);
  await publishTwo(home, env);
  const file = path.join(home, 'catalog', 'tuf', 'timestamp.json');
  const ts = JSON.parse(await readFile(file, 'utf8')) as { signed: { version: number } };
  ts.signed.version += 5;
  await writeFile(file, JSON.stringify(ts));
  const res = await runCli(['verify', '--json'], env);
  t.not(res.code, 0);
  const report = JSON.parse(res.stdout) as { ok: boolean; problems: string[] };
  t.false(report.ok);
  t.regex(report.problems[0] ?? '', /^metadata: /);
});

dbTest(
  'keys list shows every role; rotating timestamp and root keeps the catalog verifiable',
  async (t, { home, env }) => {
    t.is((await runCli(['init'], env)).code, 0);
    await publishTwo(home, env);
    const list = await runCli(['keys', 'list', '--json'], env);
    t.is(list.code, 0, list.stderr);
    const keys = JSON.parse(list.stdout) as Array<{ role: string; keyid: string }>;
    t.deepEqual([...new Set(keys.map((k) => k.role))].sort(), [
      'publisher',
      'root',
      'snapshot',
      'targets',
      'timestamp',
    ]);
    t.notRegex(list.stdout, /private|PRIVATE/);

    for (const role of ['timestamp', 'root']) {
      const rot = await runCli(['keys', 'rotate', role, '--json'], env);
      t.is(rot.code, 0, rot.stderr);
      t.is((JSON.parse(rot.stdout) as { retired: string[] }).retired.length, 1);
    }
    const after = await runCli(['keys', 'list', '--json'], env);
    const newKeys = JSON.parse(after.stdout) as Array<{ role: string; keyid: string }>;
    t.notDeepEqual(
      newKeys.find((k) => k.role === 'timestamp'),
      keys.find((k) => k.role === 'timestamp'),
    );
    // A client pinned to root version 1 follows the chain to the new keys.
    const ok = await runCli(['verify', '--json'], env);
    t.is(ok.code, 0, ok.stdout + ok.stderr);
    const bad = await runCli(['keys', 'rotate', 'mirror'], env);
    t.not(bad.code, 0);
    t.regex(bad.stderr, /role: "mirror" is not one of root, targets, snapshot, timestamp/);
  },
);
