import { createHash } from 'node:crypto';
import { readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { dbTest } from '../helpers/site.js';
import { runCli } from '../helpers/cli.js';
import { fileManifest } from '../helpers/publish.js';
import test from 'ava';
import type { Command } from 'commander';
import { buildProgram } from '../../src/cli/main.js';

/** Every command and subcommand the program registers, as argument lists (e.g. ['keys', 'list']). */
function commandPaths(program: Command): string[][] {
  const out: string[][] = [];
  const walk = (cmd: Command, prefix: string[]): void => {
    for (const sub of cmd.commands) {
      const here = [...prefix, sub.name()];
      out.push(here);
      walk(sub, here);
    }
  };
  walk(program, []);
  return out;
}

test('every command and subcommand has --help, and the root lists them', async (t) => {
  const root = await runCli(['--help'], process.env);
  t.is(root.code, 0);
  const paths = commandPaths(await buildProgram());
  t.true(paths.length >= 20, `found ${paths.length} commands`);
  for (const args of paths) {
    if (args.length === 1) t.regex(root.stdout, new RegExp(`\\b${args[0]}\\b`));
    const help = await runCli([...args, '--help'], process.env);
    t.is(help.code, 0, args.join(' '));
    t.regex(help.stdout, new RegExp(`Usage: upcat ${args.join(' ')}`));
  }
});

test('an unknown command or option fails with a short message and non-zero exit', async (t) => {
  const res = await runCli(['frobnicate'], process.env);
  t.not(res.code, 0);
  t.regex(res.stderr, /unknown command 'frobnicate'/);
});

dbTest('init twice, package, publish --json, publish again, expire', async (t, { home, env }) => {
  t.is((await runCli(['init'], env)).code, 0);
  const again = await runCli(['init', '--json'], env);
  t.is(again.code, 0);
  t.is(JSON.parse(again.stdout).createdConfig, false);

  const build = path.join(home, 'build');
  await writeFile(path.join(home, 'placeholder'), '');
  const { mkdir } = await import('node:fs/promises');
  await mkdir(path.join(build, 'bin'), { recursive: true });
  await writeFile(path.join(build, 'setup.sh'), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
  await writeFile(path.join(build, 'bin', 'client'), 'client\n');
  const out = path.join(home, 'client.zip');
  const pkg = await runCli(
    ['package', build, '--name', 'Contoso Client', '--version', '5.0.1', '--out', out, '--json'],
    env,
  );
  t.is(pkg.code, 0, pkg.stderr);
  const pkgResult = JSON.parse(pkg.stdout) as { sha256: string; fileCount: number };
  t.is(pkgResult.fileCount, 2);
  t.is(
    pkgResult.sha256,
    createHash('sha256')
      .update(await readFile(out))
      .digest('hex'),
  );

  const manifestFile = path.join(home, 'manifest.json');
  await writeFile(
    manifestFile,
    JSON.stringify(fileManifest('setup.sh', { product: 'Contoso Client', version: '5.0.1' })),
  );
  const pub = await runCli(['publish', out, '--manifest', manifestFile, '--json'], env);
  t.is(pub.code, 0, pub.stderr);
  const result = JSON.parse(pub.stdout) as Record<string, unknown>;
  t.deepEqual(Object.keys(result).sort(), [
    'catalogVersion',
    'revision',
    'sha1',
    'sha256',
    'size',
    'updateId',
  ]);
  t.like(result, {
    revision: 1,
    catalogVersion: 1,
    sha256: pkgResult.sha256,
    size: (await stat(out)).size,
  });

  const repeat = await runCli(['publish', out, '--manifest', manifestFile, '--json'], env);
  t.is(repeat.code, 0);
  t.deepEqual(JSON.parse(repeat.stdout), result);

  const exp = await runCli(['expire', String(result['updateId']), '--json'], env);
  t.is(exp.code, 0, exp.stderr);
  t.like(JSON.parse(exp.stdout), { changed: true, catalogVersion: 2 });
});

dbTest('failures print one line on stderr and exit non-zero', async (t, { home, env }) => {
  await writeFile(path.join(home, 'p.bin'), 'payload');
  await writeFile(path.join(home, 'bad.json'), '{ "title": ');
  await writeFile(
    path.join(home, 'wrong.json'),
    JSON.stringify({ ...fileManifest('p.bin'), version: 7 }),
  );
  const cases: Array<[string[], RegExp]> = [
    [
      ['publish', path.join(home, 'p.bin'), '--manifest', path.join(home, 'bad.json')],
      /bad\.json is not valid JSON/,
    ],
    [
      ['publish', path.join(home, 'p.bin'), '--manifest', path.join(home, 'wrong.json')],
      /invalid manifest: version: /,
    ],
    [
      ['publish', path.join(home, 'missing.bin'), '--manifest', path.join(home, 'wrong.json')],
      /payload .*missing\.bin does not exist/,
    ],
    [
      ['publish', path.join(home, 'p.bin'), '--manifest', path.join(home, 'none.json')],
      /manifest .*none\.json does not exist/,
    ],
    [['expire', 'not-a-guid-at-all'], /update not-a-guid-at-all does not exist/],
  ];
  for (const [args, message] of cases) {
    const res = await runCli(args, env);
    t.not(res.code, 0, args.join(' '));
    t.regex(res.stderr, message);
    t.is(res.stderr.trim().split('\n').length, 1, `one line: ${res.stderr}`);
    t.notRegex(res.stderr, /\bat .*\.js:\d+/, 'no stack trace');
  }
});

dbTest('a bad config file or environment value is named in the error', async (t, { home, env }) => {
  await writeFile(
    path.join(home, 'upcat.config.json'),
    JSON.stringify({ server: { port: 'eighty' } }),
  );
  const res = await runCli(['init'], env);
  t.not(res.code, 0);
  t.regex(res.stderr, /server\.port: .*expected number/);
  await writeFile(path.join(home, 'upcat.config.json'), '{}');
  const envRes = await runCli(['init'], { ...env, UPCAT_MODE: 'hybrid' });
  t.regex(envRes.stderr, /site\.mode: .* \(from UPCAT_MODE\)/);
});
