import { h } from './dom.js';

/**
 * Charts drawn as inline SVG from the numbers the API answers: no chart library, nothing to
 * load, and the page's CSP (no inline style) holds, since every colour comes from console.css
 * through a class. Each chart is an image with a one-line summary as its accessible name, and
 * its figures are in a table beside it for anyone who cannot see the picture.
 */
const NS = 'http://www.w3.org/2000/svg';

export interface Series {
  name: string;
  /** A class of console.css that colours the line and its legend swatch. */
  kind: 'ok' | 'fail' | 'pending' | 'other';
  values: number[];
}

function svg<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | number>,
  ...children: Array<SVGElement | string>
): SVGElementTagNameMap[K] {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children) el.append(c);
  return el;
}

const W = 720;
const H = 240;
const PAD = { left: 44, right: 12, top: 12, bottom: 28 };

/** A nice upper bound for the y axis: 1, 2 or 5 times a power of ten. */
function niceMax(n: number): number {
  if (n <= 4) return 4;
  const p = 10 ** Math.floor(Math.log10(n));
  for (const m of [1, 2, 5, 10]) if (m * p >= n) return m * p;
  return 10 * p;
}

/** Lines over time: one per series, x labels from `labels` (first, middle, last shown). */
export function lineChart(title: string, labels: string[], series: Series[]): HTMLElement {
  const max = niceMax(Math.max(0, ...series.flatMap((s) => s.values)));
  const n = labels.length;
  const x = (i: number): number =>
    PAD.left + (n <= 1 ? 0 : (i / (n - 1)) * (W - PAD.left - PAD.right));
  const y = (v: number): number => H - PAD.bottom - (v / max) * (H - PAD.top - PAD.bottom);
  const grid: SVGElement[] = [];
  for (let k = 0; k <= 4; k++) {
    const v = (max / 4) * k;
    grid.push(
      svg('line', { x1: PAD.left, x2: W - PAD.right, y1: y(v), y2: y(v), class: 'grid' }),
      svg('text', { x: PAD.left - 6, y: y(v) + 4, class: 'tick', 'text-anchor': 'end' }, fmt(v)),
    );
  }
  const ticks = [...new Set([0, Math.floor((n - 1) / 2), n - 1])].filter((i) => i >= 0 && n > 0);
  for (const i of ticks)
    grid.push(
      svg(
        'text',
        {
          x: x(i),
          y: H - 8,
          class: 'tick',
          'text-anchor': i === 0 ? 'start' : i === n - 1 ? 'end' : 'middle',
        },
        labels[i] ?? '',
      ),
    );
  const lines = series.map((s) =>
    svg('polyline', {
      class: `series series-${s.kind}`,
      fill: 'none',
      points: s.values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(' '),
    }),
  );
  const last = series.map((s) => `${s.name} ${s.values.at(-1) ?? 0}`).join(', ');
  const summary = `${title}: ${n} points from ${labels[0] ?? '—'} to ${labels.at(-1) ?? '—'}; latest ${last}`;
  return figure(title, summary, H, [...grid, ...lines], series, {
    rows: labels,
    values: labels.map((_, i) => series.map((s) => s.values[i] ?? 0)),
  });
}

/** One horizontal stacked bar per row (a ring, a revision): the parts of its whole. */
export function stackedBars(
  title: string,
  rows: Array<{ label: string; parts: number[] }>,
  series: Array<Pick<Series, 'name' | 'kind'>>,
): HTMLElement {
  const rowH = 26;
  const labelW = 160;
  const height = rows.length * rowH + 8;
  const items: SVGElement[] = [];
  rows.forEach((r, i) => {
    const total = r.parts.reduce((a, b) => a + b, 0);
    const top = 4 + i * rowH;
    items.push(
      svg('text', { x: 0, y: top + 15, class: 'tick' }, truncate(r.label, 22)),
      svg('rect', { x: labelW, y: top, width: W - labelW - 60, height: 18, class: 'track' }),
    );
    let at = labelW;
    r.parts.forEach((p, k) => {
      const w = total === 0 ? 0 : (p / total) * (W - labelW - 60);
      if (w > 0)
        items.push(
          svg('rect', {
            x: at,
            y: top,
            width: w,
            height: 18,
            class: `part series-${series[k]?.kind ?? 'other'}`,
          }),
        );
      at += w;
    });
    items.push(svg('text', { x: W - 54, y: top + 15, class: 'tick' }, `${total}`));
  });
  const summary = `${title}: ${rows
    .map((r) => `${r.label} ${series.map((s, k) => `${s.name} ${r.parts[k] ?? 0}`).join(', ')}`)
    .join('; ')}`;
  return figure(title, summary, height, items, series, {
    rows: rows.map((r) => r.label),
    values: rows.map((r) => r.parts),
  });
}

/** A chart as a figure: caption, legend, the picture with its summary, and its figures. */
function figure(
  title: string,
  summary: string,
  height: number,
  items: SVGElement[],
  series: Array<Pick<Series, 'name' | 'kind'>>,
  table: { rows: string[]; values: number[][] },
): HTMLElement {
  const picture = svg(
    'svg',
    { viewBox: `0 0 ${W} ${height}`, role: 'img', 'aria-label': summary, class: 'chart' },
    svg('title', {}, summary),
    ...items,
  );
  return h(
    'figure',
    { class: 'chart-figure' },
    h('figcaption', {}, title),
    legend(series),
    picture as unknown as HTMLElement,
    figures(
      title,
      table.rows,
      series.map((s) => s.name),
      table.values,
    ),
  );
}

function legend(series: Array<Pick<Series, 'name' | 'kind'>>): HTMLElement {
  return h(
    'ul',
    { class: 'legend' },
    series.map((s) => h('li', {}, h('span', { class: `swatch series-${s.kind}` }), s.name)),
  );
}

/** The chart's numbers as a table, folded away by default. */
function figures(title: string, rows: string[], names: string[], values: number[][]): HTMLElement {
  return h(
    'details',
    { class: 'figures' },
    h('summary', {}, 'Show the figures'),
    h(
      'table',
      {},
      h('caption', {}, title),
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          h('th', { scope: 'col' }, ''),
          names.map((n) => h('th', { scope: 'col', class: 'num' }, n)),
        ),
      ),
      h(
        'tbody',
        {},
        rows.map((r, i) =>
          h(
            'tr',
            {},
            h('th', { scope: 'row' }, r),
            (values[i] ?? []).map((v) => h('td', { class: 'num' }, fmt(v))),
          ),
        ),
      ),
    ),
  );
}

function fmt(v: number): string {
  return Number.isInteger(v) ? String(v) : v.toFixed(1);
}

function truncate(s: string, n: number): string {
  return s.length <= n ? s : `${s.slice(0, n - 1)}…`;
}
