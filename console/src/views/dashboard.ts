import { ApiError, query, request } from '../api.js';
import { h, show, when } from '../dom.js';
import { heading, type ViewContext } from './common.js';
import type { RevisionRow } from './reports.js';
import type { RolloutItem } from './rollouts.js';

interface ClientItem {
  clientId: string;
  name: string;
  os: string;
  createdAt: string;
}
interface Failure {
  name: string | null;
  hardwareId: string | null;
  code: number | null;
  failures: number;
  lastAt: string;
}
interface Deployment {
  updateId: string;
  group: string;
  action: string;
  percent: number;
  deadline: string | null;
  title?: string;
}

/** The first thing an administrator sees: what waits for them and how rollouts are going. */
export function dashboardView(ctx: ViewContext): void {
  const waiting = h('section', { class: 'card', 'aria-labelledby': 'd-wait' });
  const failures = h('section', { class: 'card', 'aria-labelledby': 'd-fail' });
  const rollouts = h('section', { class: 'card', 'aria-labelledby': 'd-roll' });
  const compliance = h('section', { class: 'card wide', 'aria-labelledby': 'd-comp' });
  show(
    ctx.main,
    heading('Dashboard'),
    h('div', { class: 'cards' }, waiting, failures, rollouts, compliance),
  );

  void request<{ clients: ClientItem[]; next: string | null }>(
    'GET',
    `/v1/clients${query({ status: 'pending', limit: 10 })}`,
  )
    .then(({ clients, next }) =>
      show(
        waiting,
        h('h2', { id: 'd-wait' }, 'Clients waiting for approval'),
        h(
          'p',
          { class: 'big' },
          clients.length === 0 ? 'None' : `${clients.length}${next === null ? '' : '+'}`,
        ),
        clients.length === 0
          ? null
          : h(
              'ul',
              {},
              clients.map((c) =>
                h('li', {}, `${c.name} (${c.os}), registered `, when(c.createdAt)),
              ),
            ),
        h('a', { href: '#/clients?status=pending' }, 'Review pending clients'),
      ),
    )
    .catch(ctx.fail);

  void request<{ endpoints: Failure[] }>('GET', '/v1/reports/client-install-failures')
    .then(({ endpoints }) => {
      const dayAgo = Date.now() - 86_400_000;
      const recent = endpoints.filter((f) => Date.parse(f.lastAt) >= dayAgo);
      show(
        failures,
        h('h2', { id: 'd-fail' }, 'Agent install failures, last day'),
        h('p', { class: 'big' }, String(recent.length)),
        recent.length === 0
          ? null
          : h(
              'ul',
              {},
              recent
                .slice(0, 10)
                .map((f) =>
                  h(
                    'li',
                    {},
                    `${f.name ?? f.hardwareId ?? 'unknown machine'}: code ${f.code ?? '—'} ×${f.failures}`,
                  ),
                ),
            ),
      );
    })
    .catch(ctx.fail);

  void inProgress()
    .then((items) =>
      show(
        rollouts,
        h('h2', { id: 'd-roll' }, 'Rollouts in progress'),
        items.length === 0
          ? h('p', { class: 'muted' }, 'No rollout is running.')
          : h('ul', {}, items),
        h('a', { href: '#/rollouts' }, 'All rollouts'),
      ),
    )
    .catch(ctx.fail);

  void request<{ revisions: RevisionRow[] }>('GET', '/v1/reports/revisions')
    .then(({ revisions }) =>
      show(
        compliance,
        h('h2', { id: 'd-comp' }, 'Compliance per deployed revision'),
        revisions.length === 0
          ? h('p', { class: 'muted' }, 'Nothing is deployed yet.')
          : h(
              'table',
              {},
              h(
                'thead',
                {},
                h(
                  'tr',
                  {},
                  ['Update', 'Group', 'Installed', 'Failed', 'Pending', 'Not applicable', ''].map(
                    (t) => h('th', { scope: 'col' }, t),
                  ),
                ),
              ),
              h(
                'tbody',
                {},
                revisions.map((r) => {
                  const done = r.installed + r.alreadyInstalled + r.uninstalled;
                  const total = done + r.failed + r.pending;
                  return h(
                    'tr',
                    {},
                    h(
                      'td',
                      {},
                      h('a', { href: `#/updates/${r.updateId}` }, `${r.title} (rev ${r.revision})`),
                    ),
                    h('td', {}, r.group),
                    h('td', { class: 'num' }, String(done)),
                    h('td', { class: 'num' }, String(r.failed)),
                    h('td', { class: 'num' }, String(r.pending)),
                    h('td', { class: 'num' }, String(r.notApplicable)),
                    h('td', {}, bar(done, r.failed, total)),
                  );
                }),
              ),
            ),
      ),
    )
    .catch(ctx.fail);
}

/** A stacked bar of installed / failed / pending, with its numbers as its accessible name. */
function bar(done: number, failed: number, total: number): HTMLElement {
  const pct = (n: number): string => (total === 0 ? '0' : ((n / total) * 100).toFixed(1));
  return h(
    'div',
    {
      class: 'bar',
      role: 'img',
      'aria-label': `${pct(done)}% installed, ${pct(failed)}% failed`,
    },
    segment('bar-ok', pct(done)),
    segment('bar-fail', pct(failed)),
  );
}

/** Widths through the CSSOM: the console's CSP allows no inline style attributes. */
function segment(kind: string, percent: string): HTMLElement {
  const el = h('span', { class: kind });
  el.style.width = `${percent}%`;
  return el;
}

/**
 * The rollouts running or paused (GET /v1/rollouts); on a server without rollouts, the
 * deployments to part of a group or with a deadline, as before.
 */
async function inProgress(): Promise<HTMLElement[]> {
  try {
    const { rollouts } = await request<{ rollouts: RolloutItem[] }>(
      'GET',
      `/v1/rollouts${query({ limit: 50 })}`,
    );
    return rollouts
      .filter((r) => r.status === 'running' || r.status === 'paused')
      .map((r) =>
        h(
          'li',
          {},
          h('a', { href: `#/rollouts/${r.id}` }, r.name),
          ` (${r.title}): ${r.status}, ring ${r.currentRing + 1}`,
        ),
      );
  } catch (err) {
    if (!(err instanceof ApiError) || err.status !== 404) throw err;
  }
  const { deployments } = await request<{ deployments: Deployment[] }>('GET', '/v1/deployments');
  return deployments
    .filter((d) => d.percent < 100 || d.deadline !== null)
    .map((d) =>
      h(
        'li',
        {},
        h('a', { href: `#/updates/${d.updateId}` }, d.title ?? d.updateId),
        ` → ${d.group}: ${d.action}, ${d.percent}%`,
        d.deadline === null ? '' : ', deadline ',
        d.deadline === null ? '' : when(d.deadline),
      ),
    );
}
