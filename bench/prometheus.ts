/**
 * A strict reader of the Prometheus text exposition format (version 0.0.4, as prom-client writes
 * it), for the benchmarks that read the server's own figures from `GET /metrics`, and for the
 * test that checks the format (test/integration/metrics.test.ts). Anything outside the grammar
 * throws, naming the line.
 */

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  name: string;
  type: 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';
  help?: string;
  samples: Sample[];
}

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const LABEL = '[a-zA-Z_][a-zA-Z0-9_]*';
const VALUE = String.raw`"((?:[^"\\\n]|\\["\\n])*)"`;
const SAMPLE = new RegExp(
  String.raw`^(${NAME})(?:\{((?:${LABEL}=${VALUE}(?:,${LABEL}=${VALUE})*,?)?)\})? (\S+)(?: (-?\d+))?$`,
);
const PAIR = new RegExp(`(${LABEL})=${VALUE}`, 'g');
/** A value as Go's strconv.ParseFloat reads it (the format's definition): NaN and Inf in any case. */
const FLOAT = /^[+-]?(?:\d+\.?\d*(?:e[+-]?\d+)?|\.\d+(?:e[+-]?\d+)?|inf|infinity|nan)$/i;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

/** The families in order; a sample of a histogram or summary goes to its family. */
export function parseExposition(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const seen = new Set<string>();
  let current: Family | undefined;
  const lines = text.split('\n');
  lines.forEach((line, i) => {
    const where = `line ${i + 1}: ${JSON.stringify(line.slice(0, 80))}`;
    if (line.trim() === '') return;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
      if (m === null) return; // a plain comment
      const [, kind, name = '', rest = ''] = m;
      if (!new RegExp(`^${NAME}$`).test(name)) throw new Error(`bad metric name, ${where}`);
      let family = families.get(name);
      if (family === undefined) {
        family = { name, type: 'untyped', samples: [] };
        families.set(name, family);
      } else if (family.samples.length > 0) {
        throw new Error(`HELP or TYPE after the family's samples, ${where}`);
      }
      if (kind === 'TYPE') {
        if (!TYPES.has(rest)) throw new Error(`unknown type, ${where}`);
        family.type = rest as Family['type'];
      } else {
        family.help = rest;
      }
      current = family;
      return;
    }
    const m = SAMPLE.exec(line);
    if (m === null) throw new Error(`not a sample, ${where}`);
    const [, name = '', labelText = '', , , value = ''] = m;
    if (!FLOAT.test(value)) throw new Error(`bad value, ${where}`);
    const labels: Record<string, string> = {};
    for (const [, key = '', raw = ''] of labelText.matchAll(PAIR)) {
      if (key in labels) throw new Error(`label ${key} twice, ${where}`);
      labels[key] = raw.replace(/\\(["\\n])/g, (_, c: string) => (c === 'n' ? '\n' : c));
    }
    const family = familyOf(families, current, name);
    if (family === undefined) throw new Error(`sample outside its family, ${where}`);
    const series = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
    if (seen.has(series)) throw new Error(`series twice, ${where}`);
    seen.add(series);
    family.samples.push({ name, labels, value: parseValue(value) });
  });
  return families;
}

/** A sample belongs to the family just declared (samples of one family are contiguous). */
function familyOf(
  families: Map<string, Family>,
  current: Family | undefined,
  name: string,
): Family | undefined {
  if (current === undefined) return families.get(name);
  if (name === current.name) return current;
  const suffixes =
    current.type === 'histogram'
      ? ['_bucket', '_sum', '_count']
      : current.type === 'summary'
        ? ['_sum', '_count']
        : [];
  return suffixes.some((s) => name === current.name + s) ? current : undefined;
}

function parseValue(v: string): number {
  const lower = v.toLowerCase();
  if (lower === 'nan') return NaN;
  if (/^\+?inf(inity)?$/.test(lower)) return Infinity;
  if (/^-inf(inity)?$/.test(lower)) return -Infinity;
  return Number(v);
}

/** Cumulative bucket counts by upper bound (`le`), summed over the series `select` keeps. */
export function histogramBuckets(
  family: Family | undefined,
  select: (labels: Record<string, string>) => boolean,
): Map<number, number> {
  const out = new Map<number, number>();
  for (const s of family?.samples ?? []) {
    if (!s.name.endsWith('_bucket') || !select(s.labels)) continue;
    const le = parseValue(s.labels['le'] ?? 'NaN');
    out.set(le, (out.get(le) ?? 0) + s.value);
  }
  return out;
}

/** `after - before`, bucket by bucket: what happened between two scrapes. */
export function bucketsBetween(
  before: Map<number, number>,
  after: Map<number, number>,
): Map<number, number> {
  const out = new Map<number, number>();
  for (const [le, n] of after) out.set(le, n - (before.get(le) ?? 0));
  return out;
}

/**
 * The q-quantile of cumulative buckets, as PromQL's histogram_quantile computes it: linear
 * interpolation inside the bucket that holds the rank, so the answer is only as fine as the
 * buckets around it. NaN when there is no observation.
 */
export function histogramQuantile(q: number, buckets: Map<number, number>): number {
  const sorted = [...buckets].sort(([a], [b]) => a - b);
  const total = sorted.at(-1)?.[1] ?? 0;
  if (total === 0) return NaN;
  const rank = q * total;
  let lowerBound = 0;
  let lowerCount = 0;
  for (const [le, count] of sorted) {
    if (count >= rank) {
      if (le === Infinity) return lowerBound; // the highest finite bound, as Prometheus answers
      return lowerBound + ((le - lowerBound) * (rank - lowerCount)) / (count - lowerCount);
    }
    lowerBound = le;
    lowerCount = count;
  }
  return lowerBound;
}
