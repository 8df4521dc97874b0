/**
 * `npm run bench`: runs every benchmark (or those named on the command line), each measuring its
 * reference in the same run, and prints a table to paste into docs/BENCHMARKS.md.
 *
 * It ends with one line per benchmark: its ratio against its reference, the target and whether it
 * is met, beside the last ratio recorded in docs/BENCHMARKS.md's history table (issue 16 item 4:
 * there is no speed test in CI, machines being noisy; a regression shows here instead). With
 * `--record` the new rows are appended to that table. The load average is printed beside every
 * result, since on a shared machine it decides how much the wall times mean.
 */
import { execFileSync } from 'node:child_process';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { BenchResult } from './types.js';
import { ROOT } from './util.js';

const args = process.argv.slice(2);
const record = args.includes('--record');
const only = args.filter((a) => a !== '--record');
const dir = path.join(ROOT, 'bench');
const files = (await readdir(dir))
  .filter((f) => f.endsWith('.ts') && !['run.ts', 'types.ts', 'util.ts', 'wrk.ts'].includes(f))
  .filter((f) => only.length === 0 || only.some((o) => f.includes(o)))
  .sort();

const DOC = path.join(ROOT, 'docs', 'BENCHMARKS.md');
const HISTORY_HEADING = '## History of `npm run bench`';

interface Ran {
  file: string;
  result: BenchResult;
  load: string;
}

const results: Ran[] = [];
for (const file of files) {
  const mod = (await import(pathToFileURL(path.join(dir, file)).href)) as {
    run?: () => Promise<BenchResult>;
  };
  if (typeof mod.run !== 'function') continue;
  process.stderr.write(`bench: ${file} ...\n`);
  const before = loadAverage();
  const result = await mod.run();
  results.push({ file, result, load: `${before} → ${loadAverage()}` });
  process.stderr.write(`${JSON.stringify(result)}\n`);
}

const date = new Date().toISOString().slice(0, 10);
console.log(`\n## Results (${date}, ${process.version})\n`);
for (const { result: r, load } of results) {
  console.log(`### ${r.name}\n`);
  console.log(`Load average (1 min) before → after: ${load}.\n`);
  if (r.reference !== undefined)
    console.log(`Reference: ${r.reference}. Ratio: ${r.ratio ?? 'n/a'}.`);
  if (r.target !== undefined)
    console.log(`Target: ${r.target}: ${r.met === true ? 'met' : 'NOT met'}.\n`);
  console.log('| figure | value |\n|---|---|');
  for (const [k, v] of Object.entries(r.figures)) console.log(`| ${k} | ${v} |`);
  console.log('');
}

const doc = await readFile(DOC, 'utf8');
const previous = lastRatios(doc);
const commit = gitCommit();
const rows = results.map(({ file, result: r, load }) =>
  [
    date,
    commit,
    file,
    r.name,
    r.reference ?? '—',
    r.ratio ?? '—',
    r.target ?? '—',
    r.target === undefined ? '—' : r.met === true ? 'met' : '**not met**',
    load,
  ]
    .map((cell) => String(cell).replace(/\|/g, '\\|'))
    .join(' | '),
);

console.log('## Ratios against their targets\n');
console.log('| benchmark | ratio | last recorded | target | met |\n|---|---|---|---|---|');
for (const { file, result: r } of results) {
  const last = previous.get(file);
  console.log(
    `| ${file} | ${r.ratio ?? '—'} | ${last ?? '—'} | ${r.target ?? '—'} | ${r.target === undefined ? '—' : r.met === true ? 'met' : 'NOT met'} |`,
  );
}
console.log(`\nHistory rows (docs/BENCHMARKS.md, "${HISTORY_HEADING.slice(3)}"):\n`);
for (const row of rows) console.log(`| ${row} |`);

if (record && rows.length > 0) {
  await writeFile(DOC, withRows(doc, rows));
  process.stderr.write(`bench: ${rows.length} row(s) appended to docs/BENCHMARKS.md\n`);
}

function loadAverage(): string {
  return (os.loadavg()[0] ?? 0).toFixed(1);
}

function gitCommit(): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT })
      .toString()
      .trim();
    const dirty =
      execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: ROOT })
        .toString()
        .trim() !== '';
    return dirty ? `${head}+changes` : head;
  } catch {
    return 'unknown';
  }
}

/** The history table's rows: the lines starting with "|" after its heading, up to a blank line. */
function historyRows(text: string): { start: number; end: number; lines: string[] } | undefined {
  const lines = text.split('\n');
  const heading = lines.indexOf(HISTORY_HEADING);
  if (heading < 0) return undefined;
  let start = heading + 1;
  while (start < lines.length && !(lines[start] ?? '').startsWith('|')) start++;
  let end = start;
  while (end < lines.length && (lines[end] ?? '').startsWith('|')) end++;
  return { start, end, lines };
}

/** The ratio last recorded for each benchmark file (the table's third and sixth columns). */
function lastRatios(text: string): Map<string, string> {
  const found = new Map<string, string>();
  const table = historyRows(text);
  if (table === undefined) return found;
  for (const line of table.lines.slice(table.start + 2, table.end)) {
    const cells = line.split(/(?<!\\)\|/).map((c) => c.trim());
    if (cells[3] !== undefined && cells[6] !== undefined) found.set(cells[3], cells[6]);
  }
  return found;
}

function withRows(text: string, newRows: string[]): string {
  const table = historyRows(text);
  if (table === undefined) {
    const header =
      '| date | commit | benchmark | figure | reference | ratio | target | met | load (1 min) |\n|---|---|---|---|---|---|---|---|---|';
    return `${text.trimEnd()}\n\n${HISTORY_HEADING}\n\n${header}\n${newRows.map((r) => `| ${r} |`).join('\n')}\n`;
  }
  const lines = [...table.lines];
  lines.splice(table.end, 0, ...newRows.map((r) => `| ${r} |`));
  return lines.join('\n');
}
