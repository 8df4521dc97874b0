import { mkdtemp, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import test from 'ava';
import type { Command } from 'commander';
import {
  cachedHelp,
  commandOf,
  helpRequestOf,
  shapeOf,
  type HelpTreeFile,
} from '../../../src/cli/help-tree.js';
import { buildProgram } from '../../../src/cli/main.js';

/**
 * `upcat ... --help` is formatted from a tree written at build time (issue 16: the CLI starts
 * without loading its command modules). The tree must give commander's own text for every command,
 * at any width, and must not be used once the compiled CLI it was written from has changed.
 */

function* walk(cmd: Command, names: string[] = []): Generator<[string[], Command]> {
  yield [names, cmd];
  for (const sub of cmd.commands) yield* walk(sub, [...names, sub.name()]);
}

function find(root: Command, names: string[]): Command | undefined {
  let cmd: Command | undefined = root;
  for (const n of names) cmd = cmd?.commands.find((c) => c.name() === n);
  return cmd;
}

function atWidth(cmd: Command, width: number): string {
  cmd.configureOutput({ getOutHelpWidth: () => width, getOutHasColors: () => false });
  return cmd.helpInformation();
}

test('the tree gives commander’s own help for every command, at several widths', async (t) => {
  const program = await buildProgram();
  const rebuilt = commandOf(
    JSON.parse(JSON.stringify(shapeOf(program))) as ReturnType<typeof shapeOf>,
  );
  let compared = 0;
  for (const [names, real] of walk(program)) {
    const copy = find(rebuilt, names);
    if (copy === undefined) return t.fail(`${names.join(' ')}: missing from the tree`);
    for (const width of [40, 80, 132]) {
      t.is(
        atWidth(copy, width),
        atWidth(real, width),
        `upcat ${names.join(' ')} --help at ${width}`,
      );
      compared++;
    }
  }
  t.true(compared > 3 * 60, `${compared} help texts compared`);
});

test('only plain help requests take the fast path', (t) => {
  t.deepEqual(helpRequestOf(['--help']), []);
  t.deepEqual(helpRequestOf(['-h']), []);
  t.deepEqual(helpRequestOf(['help']), []);
  t.deepEqual(helpRequestOf(['help', 'verify']), ['verify']);
  t.deepEqual(helpRequestOf(['clients', 'list', '--help']), ['clients', 'list']);
  t.deepEqual(helpRequestOf(['--home', '/x', '--verbose', 'verify', '--help']), ['verify']);
  // "--help" may be an option's value, and other options are commander's to judge.
  t.is(helpRequestOf(['verify', '--target', '--help']), undefined);
  t.is(helpRequestOf(['verify', '--json', '--help']), undefined);
  t.is(helpRequestOf(['verify']), undefined);
  t.is(helpRequestOf([]), undefined);
  t.is(helpRequestOf(['-V']), undefined);
  t.is(helpRequestOf(['help', 'clients', 'list']), undefined);
});

test('the tree is used only while the files it was written from are unchanged', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'upcat-help-tree-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const compiled = path.join(dir, 'main.js');
  await writeFile(compiled, '// compiled\n');
  const program = await buildProgram();
  const stampOf = async (): Promise<HelpTreeFile['stamp']> => {
    const { stat } = await import('node:fs/promises');
    const st = await stat(compiled);
    return { './main.js': [st.size, st.mtimeMs] };
  };
  const treeFile = path.join(dir, 'help-tree.json');
  const url = pathToFileURL(treeFile);
  await writeFile(treeFile, JSON.stringify({ stamp: await stampOf(), tree: shapeOf(program) }));

  const expected = find(program, ['verify'])?.helpInformation();
  t.is(cachedHelp(['verify', '--help'], url), expected);
  t.is(
    cachedHelp(['nosuch', '--help'], url),
    undefined,
    'an unknown name is commander’s to report',
  );
  t.is(cachedHelp(['verify'], url), undefined);

  // A rebuild rewrites the compiled files: the tree is stale until the build step rewrites it.
  await utimes(compiled, new Date(), new Date(Date.now() + 5000));
  t.is(cachedHelp(['verify', '--help'], url), undefined);
  await writeFile(treeFile, JSON.stringify({ stamp: await stampOf(), tree: shapeOf(program) }));
  t.is(cachedHelp(['verify', '--help'], url), expected);

  await writeFile(treeFile, (await readFile(treeFile, 'utf8')).slice(0, 10));
  t.is(cachedHelp(['--help'], url), undefined, 'a damaged tree is not used');
  t.is(cachedHelp(['--help'], pathToFileURL(path.join(dir, 'absent.json'))), undefined);
});
