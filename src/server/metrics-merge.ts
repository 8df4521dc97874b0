/**
 * `GET /metrics` of a node with several worker processes (server.workers): one scrape answers for
 * all of them. A scrape reaches one worker (node:cluster hands the connection to any), so each
 * worker's own text would make Prometheus see counters jump from one process's to another's.
 * Instead every worker's exposition is gathered (workers.ts) and merged here: each sample gets a
 * `worker` label, and each metric family is written once, its HELP and TYPE lines first, then the
 * samples of every worker. Summing over workers is then the query's choice (`sum without
 * (worker)`), as for any multi-process exporter, and no per-type rule has to be right here.
 *
 * Text exposition format 0.0.4: a family starts at its `# HELP` or `# TYPE` line, and the sample
 * lines after it that carry its name (histogram `_bucket`, `_sum`, `_count` included) belong to
 * it; a sample of another name is an untyped family of its own.
 */
export interface WorkerExposition {
  worker: number;
  text: string;
}

interface Family {
  header: string[];
  samples: string[];
}

export function mergeExpositions(parts: readonly WorkerExposition[]): string {
  const families = new Map<string, Family>();
  for (const { worker, text } of [...parts].sort((a, b) => a.worker - b.worker)) {
    let current: Family | undefined;
    let currentName: string | undefined;
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue;
      if (line.startsWith('#')) {
        const [, kind, name] = line.split(' ', 3);
        if ((kind !== 'HELP' && kind !== 'TYPE') || name === undefined) continue;
        currentName = name;
        current = families.get(name);
        if (current === undefined) {
          current = { header: [], samples: [] };
          families.set(name, current);
        }
        // The first worker's HELP and TYPE stand for all (every worker runs the same code).
        if (!current.header.some((h) => h.startsWith(`# ${kind} `))) current.header.push(line);
        continue;
      }
      const name = sampleName(line);
      if (currentName === undefined || !belongs(name, currentName)) {
        // A sample with no HELP or TYPE of its own: an untyped family of its name.
        currentName = name;
        current = families.get(name);
        if (current === undefined) {
          current = { header: [], samples: [] };
          families.set(name, current);
        }
      }
      current?.samples.push(labelled(line, worker));
    }
  }
  const out: string[] = [];
  for (const f of families.values()) out.push(...f.header, ...f.samples);
  return `${out.join('\n')}\n`;
}

function sampleName(line: string): string {
  const end = line.search(/[{ ]/);
  return end < 0 ? line : line.slice(0, end);
}

/** A histogram's or summary's samples carry its name with a suffix. */
const SUFFIXES = ['', '_bucket', '_sum', '_count', '_total', '_created'];
function belongs(sample: string, family: string): boolean {
  return SUFFIXES.some((s) => sample === family + s);
}

/** `name{a="b"} 1` → `name{worker="0",a="b"} 1`; `name 1` → `name{worker="0"} 1`. */
function labelled(line: string, worker: number): string {
  const brace = line.indexOf('{');
  const space = line.indexOf(' ');
  const label = `worker="${worker}"`;
  if (brace >= 0 && (space < 0 || brace < space)) {
    const empty = line[brace + 1] === '}';
    return `${line.slice(0, brace + 1)}${label}${empty ? '' : ','}${line.slice(brace + 1)}`;
  }
  return space < 0 ? line : `${line.slice(0, space)}{${label}}${line.slice(space)}`;
}
