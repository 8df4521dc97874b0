/**
 * `npm run bench`: runs every benchmark (or those named on the command line), each measuring its
 * reference in the same run, and prints a table to paste into docs/BENCHMARKS.md.
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { BenchResult } from './types.js';
import { ROOT } from './util.js';

const only = process.argv.slice(2);
const dir = path.join(ROOT, 'bench');
const files = (await readdir(dir))
  .filter((f) => f.endsWith('.ts') && !['run.ts', 'types.ts', 'util.ts', 'wrk.ts'].includes(f))
  .filter((f) => only.length === 0 || only.some((o) => f.includes(o)))
  .sort();

const results: BenchResult[] = [];
for (const file of files) {
  const mod = (await import(pathToFileURL(path.join(dir, file)).href)) as {
    run?: () => Promise<BenchResult>;
  };
  if (typeof mod.run !== 'function') continue;
  process.stderr.write(`bench: ${file} ...\n`);
  const result = await mod.run();
  results.push(result);
  process.stderr.write(`${JSON.stringify(result)}\n`);
}

console.log(`\n## Results (${new Date().toISOString().slice(0, 10)}, ${process.version})\n`);
for (const r of results) {
  console.log(`### ${r.name}\n`);
  if (r.reference !== undefined)
    console.log(`Reference: ${r.reference}. Ratio: ${r.ratio ?? 'n/a'}.`);
  if (r.target !== undefined)
    console.log(`Target: ${r.target}: ${r.met === true ? 'met' : 'NOT met'}.\n`);
  console.log('| figure | value |\n|---|---|');
  for (const [k, v] of Object.entries(r.figures)) console.log(`| ${k} | ${v} |`);
  console.log('');
}
