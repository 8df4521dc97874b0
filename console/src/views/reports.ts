import { query, request } from '../api.js';
import { lineChart, stackedBars } from '../chart.js';
import { h, show, when } from '../dom.js';
import { csvLink, heading, simpleTable, type ViewContext } from './common.js';

export interface RevisionRow {
  updateId: string;
  revision: number;
  group: string;
  title: string;
  status: string;
  installed: number;
  alreadyInstalled: number;
  uninstalled: number;
  failed: number;
  pending: number;
  notApplicable: number;
}
interface StaleRow {
  clientId: string;
  name: string;
  lastContact: string | null;
}
interface Failure {
  hardwareId: string | null;
  name: string | null;
  code: number | null;
  failures: number;
  lastAt: string;
}
export interface HistoryPoint {
  at: string;
  installed: number;
  failed: number;
  pending: number;
  notApplicable: number;
  targeted: number;
}

const PARTS = [
  { name: 'Installed', kind: 'ok' as const },
  { name: 'Failed', kind: 'fail' as const },
  { name: 'Pending', kind: 'pending' as const },
];

/** Reports: compliance per deployment (a chart and a table), stale clients, install failures; each as CSV. */
export function reportsView(ctx: ViewContext): void {
  const revisions = h('section', { 'aria-labelledby': 'r-rev' });
  const stale = h('section', { 'aria-labelledby': 'r-stale' });
  const failures = h('section', { 'aria-labelledby': 'r-fail' });
  show(ctx.main, heading('Reports'), revisions, stale, failures);

  void request<{ revisions: RevisionRow[] }>('GET', '/v1/reports/revisions')
    .then(({ revisions: rows }) => {
      const done = (r: RevisionRow): number => r.installed + r.alreadyInstalled + r.uninstalled;
      show(
        revisions,
        h(
          'div',
          { class: 'section-head' },
          h('h2', { id: 'r-rev' }, 'Compliance per deployment'),
          csvLink('/v1/reports/revisions', 'Download compliance CSV'),
        ),
        rows.length === 0
          ? h('p', { class: 'muted' }, 'Nothing is deployed yet.')
          : stackedBars(
              'Installed, failed and pending clients per deployed revision',
              rows.map((r) => ({
                label: `${r.title} → ${r.group}`,
                parts: [done(r), r.failed, r.pending],
              })),
              PARTS,
            ),
        simpleTable(
          'Per deployment (latest revision, group)',
          ['Update', 'Group', 'Status', 'Installed', 'Failed', 'Pending', 'Not applicable', ''],
          rows.map((r) => [
            h('a', { href: `#/updates/${r.updateId}` }, `${r.title} (rev ${r.revision})`),
            r.group,
            r.status,
            String(done(r)),
            String(r.failed),
            String(r.pending),
            String(r.notApplicable),
            h(
              'a',
              {
                href: `#/reports/history${query({ updateId: r.updateId, group: r.group })}`,
                'aria-label': `Over time: ${r.title} in ${r.group}`,
              },
              'Over time',
            ),
          ]),
          [3, 4, 5, 6],
        ),
      );
    })
    .catch(ctx.fail);

  void request<{ clients: StaleRow[] }>('GET', '/v1/reports/stale?days=30')
    .then(({ clients }) =>
      show(
        stale,
        h(
          'div',
          { class: 'section-head' },
          h('h2', { id: 'r-stale' }, 'Clients not seen for 30 days'),
          csvLink('/v1/reports/stale?days=30', 'Download stale clients CSV'),
        ),
        simpleTable(
          'Stale clients',
          ['Name', 'Last contact'],
          clients
            .slice(0, 50)
            .map((c) => [
              h('a', { href: `#/clients/${encodeURIComponent(c.clientId)}` }, c.name),
              when(c.lastContact),
            ]),
        ),
        clients.length > 50
          ? h('p', { class: 'muted' }, `${clients.length - 50} more in the CSV.`)
          : null,
      ),
    )
    .catch(ctx.fail);

  void request<{ endpoints: Failure[] }>('GET', '/v1/reports/client-install-failures')
    .then(({ endpoints }) =>
      show(
        failures,
        h(
          'div',
          { class: 'section-head' },
          h('h2', { id: 'r-fail' }, 'Agent install failures'),
          csvLink('/v1/reports/client-install-failures', 'Download install failures CSV'),
        ),
        simpleTable(
          'Endpoints that could not install the agent',
          ['Machine', 'Code', 'Failures', 'Last'],
          endpoints
            .slice(0, 50)
            .map((f) => [
              f.name ?? f.hardwareId ?? 'unknown',
              f.code === null ? '—' : String(f.code),
              String(f.failures),
              when(f.lastAt),
            ]),
          [1, 2],
        ),
      ),
    )
    .catch(ctx.fail);
}

/** One revision over time: installed / failed / pending per hour or day, with its CSV. */
export function historyView(ctx: ViewContext, params: URLSearchParams): void {
  const updateId = params.get('updateId') ?? '';
  const group = params.get('group') ?? '';
  const bucket = h(
    'select',
    { id: 'history-bucket' },
    ['day', 'hour'].map((b) => h('option', { value: b }, b === 'day' ? 'Per day' : 'Per hour')),
  );
  bucket.value = params.get('bucket') === 'hour' ? 'hour' : 'day';
  const form = h(
    'form',
    { class: 'filters' },
    h('label', { for: 'history-bucket' }, 'Interval'),
    bucket,
    h('button', { type: 'submit', class: 'secondary' }, 'Show'),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    ctx.navigate(`#/reports/history${query({ updateId, group, bucket: bucket.value })}`);
  });
  const path = `/v1/reports/history${query({ updateId, group, bucket: bucket.value })}`;
  const body = h('div', {}, h('p', { class: 'muted' }, 'Loading…'));
  show(
    ctx.main,
    heading('Over time'),
    h(
      'p',
      {},
      h('a', { href: `#/updates/${encodeURIComponent(updateId)}` }, 'The update'),
      group === '' ? ', every group it is deployed to' : `, deployed to ${group}`,
    ),
    h('div', { class: 'section-head' }, form, csvLink(path, 'Download CSV')),
    body,
  );
  void request<{ points: HistoryPoint[] }>('GET', path)
    .then(({ points }) => show(body, historyChart('Clients per state', points, bucket.value)))
    .catch(ctx.fail);
}

/** The history points as a line chart of installed, failed and pending. */
export function historyChart(title: string, points: HistoryPoint[], bucket: string): HTMLElement {
  const label = (iso: string): string => {
    const d = new Date(iso);
    return bucket === 'hour'
      ? d.toLocaleString(undefined, {
          month: 'short',
          day: 'numeric',
          hour: '2-digit',
          minute: '2-digit',
        })
      : d.toLocaleDateString(undefined, { month: 'short', day: 'numeric' });
  };
  return lineChart(
    title,
    points.map((p) => label(p.at)),
    PARTS.map((s, k) => ({
      ...s,
      values: points.map((p) => [p.installed, p.failed, p.pending][k] ?? 0),
    })),
  );
}
