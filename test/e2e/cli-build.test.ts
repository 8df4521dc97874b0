import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * What bin/upcat.js runs is the CommonJS compile of src/ (scripts/build-dist.mjs): the CLI's
 * modules come through `require`, not Node's ES module loader, which is what makes it start
 * faster (issue 16). A build that emitted ES modules again would still run, so only this shows it.
 */
test('the CLI runs its compiled modules as CommonJS, a command loading only its own', (t) => {
  const probe = `
    process.argv = [process.argv[0], 'upcat', 'rules', 'eval', '--help'];
    require('./bin/upcat.js');
    process.on('exit', () => {
      const mine = Object.keys(require.cache).filter((f) => f.includes('/dist/'));
      process.stderr.write('LOADED ' + JSON.stringify(mine.map((f) => f.slice(f.indexOf('/dist/') + 1))) + '\\n');
    });`;
  const r = spawnSync(process.execPath, ['-e', probe], { cwd: ROOT, encoding: 'utf8' });
  t.is(r.status, 0, r.stderr);
  t.regex(r.stdout, /Usage: upcat rules eval/);
  const loaded = JSON.parse(/LOADED (.*)/.exec(r.stderr)?.[1] ?? '[]') as string[];
  t.true(loaded.includes('dist/cli/run.js'), loaded.join(' '));
  // `rules eval --help` is answered from the help tree: no command module, no program.
  t.false(
    loaded.some((f) => f.startsWith('dist/cli/commands/')),
    loaded.join(' '),
  );

  const evalRun = spawnSync(
    process.execPath,
    [
      '-e',
      probe.replace(
        `'rules', 'eval', '--help'`,
        `'rules', 'eval', '--rules', 'missing.json', '--inventory', 'missing.json'`,
      ),
    ],
    {
      cwd: ROOT,
      encoding: 'utf8',
    },
  );
  t.is(evalRun.status, 2, evalRun.stderr);
  const ran = JSON.parse(/LOADED (.*)/.exec(evalRun.stderr)?.[1] ?? '[]') as string[];
  t.true(
    ran.includes('dist/cli/main.js') && ran.includes('dist/cli/commands/rules.js'),
    ran.join(' '),
  );
  t.false(
    ran.some((f) => f.startsWith('dist/cli/commands/') && f !== 'dist/cli/commands/rules.js'),
    ran.join(' '),
  );
});

test('dist/ is marked CommonJS and every compiled file is strict', async (t) => {
  t.deepEqual(JSON.parse(await readFile(path.join(ROOT, 'dist', 'package.json'), 'utf8')), {
    type: 'commonjs',
  });
  const main = await readFile(path.join(ROOT, 'dist', 'cli', 'main.js'), 'utf8');
  t.true(main.startsWith('"use strict";'));
});

/**
 * commander comes to the CLI as one bundled file (src/cli/commander.ts), and the build leaves
 * node:child_process, which commander needs only for subcommands that are programs of their own,
 * to be loaded when first touched (scripts/build-dist.mjs, issue 16). `-V` must not load it, and
 * such a subcommand must still run through the bundle.
 */
test('the bundled commander loads node:child_process only when a subcommand needs it', async (t) => {
  const version = spawnSync(
    process.execPath,
    [
      '-e',
      `process.argv = [process.argv[0], 'upcat', '-V'];
       require('./bin/upcat.js');
       process.on('exit', () => process.stderr.write('CP ' + process.moduleLoadList.includes('NativeModule child_process') + '\\n'));`,
    ],
    { cwd: ROOT, encoding: 'utf8' },
  );
  t.is(version.status, 0, version.stderr);
  t.regex(version.stderr, /CP false/);

  const dir = await mkdtemp(path.join(tmpdir(), 'upcat-commander-'));
  try {
    await writeFile(
      path.join(dir, 'probe-hello.js'),
      "process.stdout.write('hello from a program\\n');\n",
    );
    // A script file, not `node -e`: commander gives the program its parent's node options,
    // which for `-e` would be the probe itself again.
    const probe = path.join(dir, 'probe.js');
    await writeFile(
      probe,
      `const { Command } = require(${JSON.stringify(path.join(ROOT, 'dist', 'cli', 'commander.js'))});
       const program = new Command('probe').executableDir(__dirname);
       program.command('hello', 'a program of its own');
       program.parse([process.argv[0], __filename, 'hello']);\n`,
    );
    const sub = spawnSync(process.execPath, [probe], { encoding: 'utf8', timeout: 30_000 });
    t.is(sub.status, 0, sub.stderr);
    t.is(sub.stdout, 'hello from a program\n');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
