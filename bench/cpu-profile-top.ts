/**
 * Summarizes a V8 CPU profile (`node --cpu-prof`, a .cpuprofile file): self time per function
 * and per source file (node_modules folded to the package), heaviest first, as percentages of
 * the samples. Not a benchmark (no `run` export); a tool for reading the profiles behind
 * docs/BENCHMARKS.md. Optional: a window of the profile, in seconds from its start, so one
 * scenario of a longer run can be read on its own (negative: seconds back from the end).
 * Run: node --import tsx bench/cpu-profile-top.ts <file.cpuprofile> [top=25] [fromS] [toS]
 */
import { readFile } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** The package of a node_modules path, the file of a project path, or the url as it is. */
export function fileOf(url: string): string {
  if (url === '') return '(native)';
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + 'node_modules/'.length).split('/');
    return `npm:${rest[0]?.startsWith('@') === true ? `${rest[0]}/${rest[1] ?? ''}` : (rest[0] ?? '')}`;
  }
  const src = url.search(/\/(src|bench|test)\//);
  return src >= 0 ? url.slice(src + 1) : url.replace(/^file:\/\//, '');
}

export function summarize(
  profile: Profile,
  window?: { fromUs: number; toUs: number },
): { total: number; byFunction: Map<string, number>; byFile: Map<string, number> } {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const byFunction = new Map<string, number>();
  const byFile = new Map<string, number>();
  const end = profile.timeDeltas.reduce((a, b) => a + b, 0);
  // A negative window counts back from the end of the profile (the last scenario of a run).
  const from = window === undefined ? 0 : window.fromUs < 0 ? end + window.fromUs : window.fromUs;
  const to = window === undefined ? end : window.toUs < 0 ? end + window.toUs : window.toUs;
  let at = 0;
  let total = 0;
  profile.samples.forEach((id, i) => {
    at += profile.timeDeltas[i] ?? 0;
    if (at < from || at > to) return;
    const node = byId.get(id);
    if (node === undefined) return;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === '(idle)' || functionName === '(program)') return;
    total += 1;
    const file = fileOf(url);
    const fn = `${functionName || '(anonymous)'} ${file}${url === '' ? '' : `:${lineNumber + 1}`}`;
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + 1);
    byFile.set(file, (byFile.get(file) ?? 0) + 1);
  });
  return { total, byFunction, byFile };
}

function table(title: string, counts: Map<string, number>, total: number, top: number): string {
  const rows = [...counts.entries()].sort((a, b) => b[1] - a[1]).slice(0, top);
  return [
    `${title} (self time, % of ${total} busy samples)`,
    ...rows.map(([k, v]) => `${((100 * v) / total).toFixed(1).padStart(5)} %  ${k}`),
  ].join('\n');
}

const isMain =
  process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (isMain) {
  const [file, topArg, from, to] = process.argv.slice(2);
  if (file === undefined) {
    process.stderr.write('usage: cpu-profile-top.ts <file.cpuprofile> [top] [fromS] [toS]\n');
    process.exit(2);
  }
  const profile = JSON.parse(await readFile(file, 'utf8')) as Profile;
  const top = Number(topArg ?? 25);
  const window =
    from === undefined
      ? undefined
      : { fromUs: Number(from) * 1e6, toUs: Number(to ?? Infinity) * 1e6 };
  const { total, byFunction, byFile } = summarize(profile, window);
  console.log(table('by function', byFunction, total, top));
  console.log('');
  console.log(table('by file', byFile, total, top));
}
