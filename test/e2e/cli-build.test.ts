import { spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
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
