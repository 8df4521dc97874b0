import { ApiError, query, request } from '../api.js';
import { stackedBars } from '../chart.js';
import { h, show, when } from '../dom.js';
import { historyChart, type HistoryPoint } from './reports.js';
import {
  badge,
  clearErrors,
  field,
  heading,
  may,
  showFormError,
  simpleTable,
  type ViewContext,
} from './common.js';

export interface RolloutItem {
  id: number;
  name: string;
  updateId: string;
  title: string;
  status: string;
  currentRing: number;
  createdAt: string;
}
interface Ring {
  index: number;
  group: string;
  percent: number;
  minSuccess: number;
  minReporting: number;
  wait: string;
  state: 'pending' | 'active' | 'done';
  startedAt: string | null;
  evidence: {
    installed: number;
    failed: number;
    reporting: number;
    notApplicable: number;
    successRate: number;
  };
}
interface Rollout extends RolloutItem {
  holding?: string | null;
  rings: Ring[];
  history: Array<{ at: string; step: string; by: string }>;
}

/** How often a rollout's page asks again: rings advance by themselves (issue 14 item 6). */
export const POLL_MS = 4000;

const statusKind = (s: string): string =>
  s === 'running' || s === 'done' ? 'live' : s === 'paused' ? 'pending' : 'expired';

/**
 * Runs `load` now and every POLL_MS while the view is on screen; a view that was left (its
 * container detached by the router) stops polling.
 */
export function poll(container: HTMLElement, load: () => Promise<void>): void {
  const tick = (): void => {
    if (!container.isConnected) return;
    void load().finally(() => {
      if (container.isConnected) window.setTimeout(tick, POLL_MS);
    });
  };
  tick();
}

/** Rollouts: every rollout with its status and ring, live; create one. */
export function rolloutsView(ctx: ViewContext, params: URLSearchParams): void {
  const slot = h('div', {});
  show(
    ctx.main,
    heading('Rollouts'),
    h('p', { class: 'muted' }, `Updated every ${POLL_MS / 1000} seconds.`),
    slot,
    may(ctx.user, 'deploy') ? createForm(ctx, params.get('updateId') ?? '') : null,
  );
  let first = true;
  poll(slot, async () => {
    // A quiet refresh: the table is redrawn only when the answer arrived.
    const page = await request<{ rollouts: RolloutItem[]; next: string | null }>(
      'GET',
      `/v1/rollouts${query({ limit: 50 })}`,
    ).catch((err: unknown) => {
      if (first) ctx.fail(err);
      return undefined;
    });
    first = false;
    if (page === undefined) return;
    show(
      slot,
      simpleTable(
        'Rollouts, newest first',
        ['Name', 'Update', 'Status', 'Ring', 'Created'],
        page.rollouts.map((r) => [
          h('a', { href: `#/rollouts/${r.id}` }, r.name),
          h('a', { href: `#/updates/${r.updateId}` }, r.title),
          badge(r.status, statusKind(r.status)),
          String(r.currentRing + 1),
          when(r.createdAt),
        ]),
      ),
    );
  });
}

/** One rollout, live: its rings with their state and evidence, its history; pause, resume, stop. */
export function rolloutDetailView(ctx: ViewContext, id: string): void {
  const body = h('div', {}, h('p', { class: 'muted' }, 'Loading…'));
  const head = h('div', {});
  show(ctx.main, head, body);
  const path = `/v1/rollouts/${encodeURIComponent(id)}`;
  let shownStatus = '';
  let lastSeen = '';
  poll(body, async () => {
    const r = await request<Rollout>('GET', path).catch((err: unknown) => {
      if (shownStatus === '' || !(err instanceof ApiError)) ctx.fail(err);
      return undefined;
    });
    if (r === undefined) return;
    // Redrawn only when something changed: an open "figures" table stays open between polls.
    const seen = JSON.stringify(r);
    if (seen === lastSeen) return;
    lastSeen = seen;
    const overTime = h('div', {});
    void progressOverTime(r)
      .then((chart) => show(overTime, chart))
      .catch(() => undefined); // the rings above carry the figures that matter
    // The heading and buttons are redrawn only when the status changes: focus stays put.
    if (r.status !== shownStatus) {
      shownStatus = r.status;
      show(
        head,
        heading(r.name, badge(r.status, statusKind(r.status))),
        may(ctx.user, 'deploy') ? controls(ctx, r, path) : null,
      );
    }
    show(
      body,
      h(
        'dl',
        { class: 'facts' },
        h('dt', {}, 'Update'),
        h('dd', {}, h('a', { href: `#/updates/${r.updateId}` }, r.title)),
        h('dt', {}, 'Current ring'),
        h('dd', {}, `${r.currentRing + 1} of ${r.rings.length}`),
        r.holding === undefined || r.holding === null ? null : h('dt', {}, 'Waiting for'),
        r.holding === undefined || r.holding === null ? null : h('dd', {}, r.holding),
        h('dt', {}, 'Created'),
        h('dd', {}, when(r.createdAt)),
      ),
      stackedBars(
        'Progress per ring',
        r.rings.map((g) => ({
          label: `${g.index + 1}. ${g.group}`,
          parts: [
            g.evidence.installed,
            g.evidence.failed,
            g.evidence.notApplicable,
            Math.max(
              0,
              g.evidence.reporting -
                g.evidence.installed -
                g.evidence.failed -
                g.evidence.notApplicable,
            ),
          ],
        })),
        [
          { name: 'Installed', kind: 'ok' },
          { name: 'Failed', kind: 'fail' },
          { name: 'Not applicable', kind: 'other' },
          { name: 'Other reports', kind: 'pending' },
        ],
      ),
      simpleTable(
        'Rings',
        ['Ring', 'Group', 'State', 'Share', 'Needs', 'Wait', 'Started', 'Evidence'],
        r.rings.map((g) => [
          String(g.index + 1),
          h('a', { href: `#/groups/${encodeURIComponent(g.group)}` }, g.group),
          badge(g.state, g.state === 'done' ? 'live' : g.state === 'active' ? 'pending' : 'muted'),
          `${g.percent}%`,
          `${g.minSuccess}% success, ${g.minReporting} reporting`,
          g.wait,
          when(g.startedAt),
          `${g.evidence.installed} installed, ${g.evidence.failed} failed, ${g.evidence.reporting} reporting (${g.evidence.successRate.toFixed(0)}% success)`,
        ]),
      ),
      overTime,
      h('h2', {}, 'History'),
      simpleTable(
        'Each step, oldest first',
        ['When', 'Step', 'By'],
        r.history.map((e) => [when(e.at), e.step, e.by]),
      ),
    );
  });
}

function controls(ctx: ViewContext, r: Rollout, path: string): HTMLElement {
  const button = (label: string, step: 'pause' | 'resume' | 'stop', kind = ''): HTMLElement => {
    const b = h('button', { type: 'button', class: kind }, label);
    b.addEventListener('click', () => {
      if (step === 'stop' && !window.confirm(`Stop ${r.name}? It cannot be resumed.`)) return;
      b.disabled = true;
      request('POST', `${path}/${step}`)
        .then(() => {
          ctx.notify(`${label}: ${r.name}.`);
          rolloutDetailView(ctx, String(r.id));
        })
        .catch((err: unknown) => {
          b.disabled = false;
          ctx.fail(err);
        });
    });
    return b;
  };
  const live = r.status === 'running' || r.status === 'paused';
  return h(
    'div',
    { class: 'bulk' },
    r.status === 'running' ? button('Pause', 'pause', 'secondary') : null,
    r.status === 'paused' ? button('Resume', 'resume') : null,
    live ? button('Stop', 'stop', 'danger') : null,
  );
}

/** A new rollout: the update, then one row per ring (group, share, thresholds, wait). */
function createForm(ctx: ViewContext, forUpdate: string): HTMLElement {
  const updateId = h('input', {
    id: 'rollout-update',
    autocomplete: 'off',
    placeholder: 'update ID',
  });
  updateId.value = forUpdate;
  const name = h('input', { id: 'rollout-name', autocomplete: 'off' });
  const fields: Record<string, { error: HTMLElement }> = {};
  const top = {
    updateId: field('Update ID', updateId, 'from the update’s page'),
    name: field('Name', name, 'optional'),
  };
  Object.assign(fields, top);
  const ringsBox = h('div', { class: 'rings' });
  const rings: Array<Record<string, HTMLInputElement | HTMLSelectElement>> = [];
  const groups = request<{ groups: Array<{ name: string }> }>('GET', '/v1/groups?limit=200').then(
    (g) => g.groups.map((x) => x.name),
    () => [] as string[],
  );
  const addRing = (): void => {
    const i = rings.length;
    const group = h('select', { id: `ring-${i}-group` });
    void groups.then((names) =>
      group.replaceChildren(...names.map((n) => h('option', { value: n }, n))),
    );
    const inputs = {
      group,
      percent: h('input', {
        id: `ring-${i}-percent`,
        type: 'number',
        min: 1,
        max: 100,
        value: 100,
      }),
      minSuccess: h('input', {
        id: `ring-${i}-success`,
        type: 'number',
        min: 0,
        max: 100,
        value: 95,
      }),
      minReporting: h('input', { id: `ring-${i}-reporting`, type: 'number', min: 1, value: 1 }),
      wait: h('input', { id: `ring-${i}-wait`, value: '1h', autocomplete: 'off' }),
    };
    rings.push(inputs);
    const ringFields = {
      group: field('Group', inputs.group),
      percent: field('Percent', inputs.percent),
      minSuccess: field('Min. success %', inputs.minSuccess),
      minReporting: field('Min. reporting', inputs.minReporting),
      wait: field('Wait', inputs.wait),
    };
    for (const [k, f] of Object.entries(ringFields)) fields[`rings${i}${k}`] = f;
    ringsBox.append(
      h(
        'fieldset',
        { class: 'ring' },
        h('legend', {}, `Ring ${i + 1}`),
        Object.values(ringFields).map((f) => f.wrap),
      ),
    );
  };
  addRing();
  const more = h('button', { type: 'button', class: 'secondary' }, 'Add a ring');
  more.addEventListener('click', addRing);
  const submit = h('button', { type: 'submit' }, 'Start rollout');
  const form = h(
    'form',
    { class: 'deploy wide-form', novalidate: true },
    h('h2', {}, 'New rollout'),
    top.updateId.wrap,
    top.name.wrap,
    ringsBox,
    h('div', { class: 'bulk' }, more, submit),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    clearErrors(fields);
    const body = {
      updateId: updateId.value.trim(),
      ...(name.value.trim() === '' ? {} : { name: name.value.trim() }),
      rings: rings.map((r) => ({
        group: r['group']?.value ?? '',
        percent: Number(r['percent']?.value),
        minSuccess: Number(r['minSuccess']?.value),
        minReporting: Number(r['minReporting']?.value),
        wait: r['wait']?.value.trim() ?? '',
      })),
    };
    submit.disabled = true;
    request<{ id: number }>('POST', '/v1/rollouts', body)
      .then((created) => {
        ctx.notify('Rollout started.');
        ctx.navigate(`#/rollouts/${created.id}`);
      })
      .catch((err: unknown) => showFormError(ctx, fields, err))
      .finally(() => {
        submit.disabled = false;
      });
  });
  return form;
}

/**
 * The update's installed / failed / pending since the rollout began (GET /v1/reports/history),
 * per hour for a week, per day after that.
 */
async function progressOverTime(r: Rollout): Promise<HTMLElement> {
  const began = Date.parse(r.createdAt);
  const bucket = Date.now() - began > 7 * 86_400_000 ? 'day' : 'hour';
  const since = new Date(began - (bucket === 'day' ? 86_400_000 : 3_600_000)).toISOString();
  const { points } = await request<{ points: HistoryPoint[] }>(
    'GET',
    `/v1/reports/history${query({ updateId: r.updateId, bucket, since })}`,
  );
  return historyChart('The update since the rollout began', points, bucket);
}
