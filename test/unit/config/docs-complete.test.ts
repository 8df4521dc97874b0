import { access, readFile } from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import type { Command } from 'commander';
import type { z } from 'zod';
import { buildProgram } from '../../../src/cli/main.js';
import { configSchema } from '../../../src/config/schema.js';

/**
 * Documentation that cannot drift (issue 13 item 7): every configuration key is in the README's
 * table, and every document a help text names exists.
 */

interface Def {
  def: { type: string; innerType?: Def; in?: Def };
  shape?: Record<string, Def>;
}

/** Leaf keys of the schema, dotted (an object's fields are walked; records and arrays are leaves). */
function leafKeys(schema: Def, prefix = ''): string[] {
  let s = schema;
  while (s.def.innerType !== undefined || (s.def.type === 'pipe' && s.def.in !== undefined))
    s = (s.def.innerType ?? s.def.in) as Def;
  if (s.def.type !== 'object' || s.shape === undefined) return [prefix];
  return Object.entries(s.shape).flatMap(([k, v]) => leafKeys(v, prefix ? `${prefix}.${k}` : k));
}

test('every configuration key is in the README configuration table', async (t) => {
  const readme = await readFile(path.resolve('README.md'), 'utf8');
  const section = readme.slice(
    readme.indexOf('## Configuration'),
    readme.indexOf('## Documentation'),
  );
  const rows = section.split('\n').filter((l) => l.startsWith('| `'));
  const keys = leafKeys(configSchema as unknown as z.ZodType & Def);
  t.true(keys.length > 30);
  for (const key of keys) {
    // A row names a key in full, or as `.leaf` after a sibling named in full on the same row.
    const parent = key.slice(0, key.lastIndexOf('.'));
    const leaf = key.slice(key.lastIndexOf('.'));
    const named = rows.some(
      (r) => r.includes(`\`${key}\``) || (r.includes(`\`${parent}.`) && r.includes(`\`${leaf}\``)),
    );
    t.true(named, `${key} is missing from the README configuration table`);
  }
});

function allCommands(cmd: Command): Command[] {
  return [cmd, ...cmd.commands.flatMap(allCommands)];
}

test('every document a help text names exists', async (t) => {
  const program = await buildProgram();
  let named = 0;
  for (const cmd of allCommands(program)) {
    const help = cmd.helpInformation();
    t.false(
      /(?<!\/)\bDESIGN\.md/.test(help),
      `${cmd.name()} names DESIGN.md, which upcat does not have`,
    );
    for (const [doc] of help.matchAll(/\b(?:docs\/)?[A-Za-z-]+\.md\b/g)) {
      named += 1;
      const file = doc.startsWith('docs/') || doc === 'README.md' ? doc : `docs/${doc}`;
      await t.notThrowsAsync(access(path.resolve(file)), `${cmd.name()}: ${doc}`);
    }
  }
  t.true(named > 0);
});
