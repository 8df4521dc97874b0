/**
 * Build step (`npm run build`, after the compile): writes help-tree.json beside the compiled CLI,
 * the command tree that `upcat ... --help` formats without loading the command modules
 * (help-tree.ts). Stamped with the size and mtime of every compiled CLI file, so a later build
 * without this step makes the tree unused rather than wrong.
 */
import { readdirSync, statSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { shapeOf, type HelpTreeFile } from './help-tree.js';
import { buildProgram } from './main.js';

const dir = path.dirname(fileURLToPath(import.meta.url));
const stamp: HelpTreeFile['stamp'] = {};
for (const entry of readdirSync(dir, { recursive: true, encoding: 'utf8' }).sort()) {
  if (!entry.endsWith('.js')) continue;
  const st = statSync(path.join(dir, entry));
  stamp[`./${entry.split(path.sep).join('/')}`] = [st.size, st.mtimeMs];
}
// No top-level await: the build runs this file as CommonJS (scripts/build-dist.mjs).
void buildProgram([]).then((program) => {
  const file: HelpTreeFile = { stamp, tree: shapeOf(program) };
  writeFileSync(path.join(dir, 'help-tree.json'), `${JSON.stringify(file)}\n`);
});
