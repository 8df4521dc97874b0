/**
 * A Prometheus histogram of request durations by (method, route, code), written for the cost of
 * one observation: three Map lookups and an increment. Timing a request with it, clock reads
 * included, measured 0.2-0.4 µs on the (loaded) bench machine; prom-client's Histogram, which
 * validates and hashes its label object on every observe, measured 1.5-2.3 µs for the observe
 * alone: several per cent of a timestamp.json 304 on the fast path (about 40 µs each at 26,000
 * requests a second). It writes the text exposition (version 0.0.4) next to prom-client's.
 */
export class RouteHistogram {
  /** route → code → method → series: lookups by values the caller already holds, no key to build. */
  private readonly series = new Map<string, Map<number | string, Map<string, Series>>>();

  constructor(
    private readonly name: string,
    private readonly help: string,
    /** Upper bounds in seconds, ascending; +Inf is implied. */
    private readonly bounds: readonly number[],
  ) {}

  /** `code` is the status code, or a word for an answer that has none (`aborted`). */
  observe(method: string, route: string, code: number | string, seconds: number): void {
    let byCode = this.series.get(route);
    if (byCode === undefined) this.series.set(route, (byCode = new Map()));
    let byMethod = byCode.get(code);
    if (byMethod === undefined) byCode.set(code, (byMethod = new Map()));
    let s = byMethod.get(method);
    if (s === undefined) {
      const counts = new Array<number>(this.bounds.length + 1).fill(0);
      byMethod.set(method, (s = { method, route, code: String(code), counts, sum: 0 }));
    }
    let i = 0;
    while (i < this.bounds.length && seconds > (this.bounds[i] as number)) i++;
    s.counts[i] = (s.counts[i] as number) + 1;
    s.sum += seconds;
  }

  /** The text exposition: cumulative buckets, then `_sum` and `_count`, series by series. */
  text(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    const all = [...this.series.values()].flatMap((byCode) =>
      [...byCode.values()].flatMap((byMethod) => [...byMethod.values()]),
    );
    for (const s of all) {
      const labels = `method="${escape(s.method)}",route="${escape(s.route)}",code="${escape(s.code)}"`;
      let cumulative = 0;
      this.bounds.forEach((le, i) => {
        cumulative += s.counts[i] as number;
        lines.push(`${this.name}_bucket{le="${le}",${labels}} ${cumulative}`);
      });
      cumulative += s.counts[this.bounds.length] as number;
      lines.push(`${this.name}_bucket{le="+Inf",${labels}} ${cumulative}`);
      lines.push(`${this.name}_sum{${labels}} ${s.sum}`);
      lines.push(`${this.name}_count{${labels}} ${cumulative}`);
    }
    return `${lines.join('\n')}\n`;
  }
}

interface Series {
  method: string;
  route: string;
  code: string;
  /** Observations per bucket (not cumulative); the last one is +Inf. */
  counts: number[];
  sum: number;
}

/** Label values escape backslash, double quote and newline (text format 0.0.4). */
function escape(value: string): string {
  return value.replace(/[\\"\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`));
}
