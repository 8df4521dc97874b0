import { query, request } from '../api.js';
import { h, show, when } from '../dom.js';
import { pagedTable } from '../table.js';
import { badge, field, heading, may, messageOf, type ViewContext } from './common.js';

interface UpdateItem {
  updateId: string;
  title: string;
  product: string;
  classification: string;
  version: string;
  revision: number;
  status: string;
  published: string;
}

const STATUSES = ['', 'live', 'superseded', 'expired', 'declined'];

/** Updates: search by title, filter by status, page through the catalog. */
export function updatesView(ctx: ViewContext, params: URLSearchParams): void {
  const q = h('input', { id: 'update-q', type: 'search', placeholder: 'Title contains…' });
  q.value = params.get('q') ?? '';
  const status = h(
    'select',
    { id: 'update-status' },
    STATUSES.map((s) => h('option', { value: s }, s === '' ? 'Any' : s)),
  );
  status.value = STATUSES.includes(params.get('status') ?? '') ? (params.get('status') ?? '') : '';
  const form = h(
    'form',
    { class: 'filters', role: 'search' },
    h('label', { for: 'update-q' }, 'Search'),
    q,
    h('label', { for: 'update-status' }, 'Status'),
    status,
    h('button', { type: 'submit', class: 'secondary' }, 'Search'),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const p = new URLSearchParams();
    if (q.value.trim() !== '') p.set('q', q.value.trim());
    if (status.value !== '') p.set('status', status.value);
    ctx.navigate(`#/updates${p.toString() === '' ? '' : `?${p}`}`);
  });
  const table = pagedTable<UpdateItem>(
    'Updates in the catalog, newest first',
    [
      { title: 'Title', cell: (u) => h('a', { href: `#/updates/${u.updateId}` }, u.title) },
      { title: 'Product', cell: (u) => u.product },
      { title: 'Classification', cell: (u) => u.classification },
      { title: 'Version', cell: (u) => u.version },
      { title: 'Revision', cell: (u) => String(u.revision), numeric: true },
      { title: 'Status', cell: (u) => badge(u.status, u.status) },
      { title: 'Published', cell: (u) => when(u.published) },
    ],
    async (cursor) => {
      const page = await request<{ updates: UpdateItem[]; next: string | null }>(
        'GET',
        `/v1/updates${query({ q: q.value.trim(), status: status.value, limit: 50, cursor })}`,
      );
      return { items: page.updates, next: page.next };
    },
    ctx.fail,
  );
  show(ctx.main, heading('Updates'), form, table);
}

interface RevisionDetail {
  revision: number;
  title: string;
  description: string;
  version: string;
  published: string;
  handler: unknown;
  isInstalled: unknown;
  isInstallable: unknown;
  files: Array<{ name: string; size: number; sha256: string; sha1: string; kind: string }>;
  supersedes: string[];
}
interface UpdateDetail {
  updateId: string;
  title: string;
  product: string;
  classification: string;
  status: string;
  latestRevision: number;
  supersededBy: string | null;
  namedBy: { supersedes: string[] };
  revisions: RevisionDetail[];
  deployments: Array<{
    group: string;
    action: string;
    deadline: string | null;
    percent: number;
    offered: boolean;
  }>;
}

/** One update: revisions, rules, files with digests, supersedence, deployments; deploy it. */
export function updateDetailView(ctx: ViewContext, updateId: string): void {
  show(ctx.main, heading('Update'), h('p', { class: 'muted' }, 'Loading…'));
  void request<UpdateDetail>('GET', `/v1/updates/${encodeURIComponent(updateId)}`)
    .then((u) => {
      const latest = u.revisions.find((r) => r.revision === u.latestRevision) ?? u.revisions[0];
      const chain: Array<Node | string> = [];
      if (u.supersededBy !== null)
        chain.push(
          'Superseded by ',
          h('a', { href: `#/updates/${u.supersededBy}` }, u.supersededBy),
        );
      for (const id of latest?.supersedes ?? [])
        chain.push(h('span', {}, ' supersedes '), h('a', { href: `#/updates/${id}` }, id));
      show(
        ctx.main,
        heading(u.title, badge(u.status, u.status)),
        h(
          'dl',
          { class: 'facts' },
          [
            ['Update ID', u.updateId],
            ['Product', u.product],
            ['Classification', u.classification],
            ['Latest revision', String(u.latestRevision)],
            ['Version', latest?.version ?? ''],
          ].flatMap(([k, v]) => [h('dt', {}, k ?? ''), h('dd', {}, v ?? '')]),
        ),
        chain.length === 0 ? null : h('p', { class: 'chain' }, chain),
        h('h2', {}, 'Deployments'),
        u.deployments.length === 0
          ? h('p', { class: 'muted' }, 'Not deployed.')
          : h(
              'ul',
              {},
              u.deployments.map((d) =>
                h(
                  'li',
                  {},
                  `${d.group}: ${d.action}, ${d.percent}%`,
                  d.deadline === null ? '' : ', deadline ',
                  d.deadline === null ? '' : when(d.deadline),
                  d.offered ? '' : ' (not offered: the update is not live)',
                ),
              ),
            ),
        may(ctx.user, 'deploy') && u.status === 'live' ? deployForm(ctx, u.updateId) : null,
        may(ctx.user, 'deploy') && u.status === 'live'
          ? h(
              'p',
              {},
              h(
                'a',
                { href: `#/rollouts?updateId=${encodeURIComponent(u.updateId)}` },
                'Roll out through rings instead',
              ),
            )
          : null,
        h('h2', {}, 'Revisions'),
        u.revisions.map((r) => revisionSection(r)),
      );
    })
    .catch(ctx.fail);
}

function revisionSection(r: RevisionDetail): HTMLElement {
  return h(
    'section',
    { class: 'revision' },
    h('h3', {}, `Revision ${r.revision}: ${r.title}`),
    h('p', {}, 'Published ', when(r.published), r.description === '' ? '' : ` — ${r.description}`),
    h(
      'table',
      {},
      h('caption', {}, 'Files'),
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ['Name', 'Size', 'SHA-256'].map((t) => h('th', { scope: 'col' }, t)),
        ),
      ),
      h(
        'tbody',
        {},
        r.files.map((f) =>
          h(
            'tr',
            {},
            h('td', {}, f.name),
            h('td', { class: 'num' }, f.size.toLocaleString()),
            h('td', {}, h('code', {}, f.sha256)),
          ),
        ),
      ),
    ),
    rules('Installable when', r.isInstallable),
    rules('Installed when', r.isInstalled),
    h(
      'details',
      {},
      h('summary', {}, 'Install handler'),
      h('pre', {}, JSON.stringify(r.handler, null, 2)),
    ),
  );
}

/** A rule tree as indented JSON: readable, and exactly what the agent evaluates. */
function rules(label: string, tree: unknown): HTMLElement {
  return h(
    'details',
    {},
    h('summary', {}, label),
    tree === null || tree === undefined
      ? h('p', { class: 'muted' }, 'No rule: always.')
      : h('pre', {}, JSON.stringify(tree, null, 2)),
  );
}

function deployForm(ctx: ViewContext, updateId: string): HTMLElement {
  const group = h('select', { id: 'deploy-group', required: true });
  void request<{ groups: Array<{ name: string }> }>('GET', '/v1/groups')
    .then(({ groups }) =>
      group.replaceChildren(...groups.map((g) => h('option', { value: g.name }, g.name))),
    )
    .catch(ctx.fail);
  const action = h(
    'select',
    { id: 'deploy-action' },
    ['install', 'optional', 'uninstall'].map((a) => h('option', { value: a }, a)),
  );
  const deadline = h('input', { id: 'deploy-deadline', type: 'datetime-local' });
  const percent = h('input', {
    id: 'deploy-percent',
    type: 'number',
    min: 1,
    max: 100,
    value: 100,
  });
  const fields = {
    group: field('Group', group),
    action: field('Action', action),
    deadline: field('Deadline', deadline, 'optional; your local time'),
    percent: field('Percentage of the group', percent),
  };
  const submit = h('button', { type: 'submit' }, 'Deploy');
  const form = h(
    'form',
    { class: 'deploy', novalidate: true },
    h('h2', {}, 'Deploy'),
    Object.values(fields).map((f) => f.wrap),
    submit,
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    for (const f of Object.values(fields)) f.error.textContent = '';
    const n = Number(percent.value);
    if (!Number.isInteger(n) || n < 1 || n > 100) {
      fields.percent.error.textContent = 'A whole number from 1 to 100.';
      return;
    }
    const body: Record<string, unknown> = {
      updateId,
      group: group.value,
      action: action.value,
      percent: n,
    };
    if (deadline.value !== '') body['deadline'] = new Date(deadline.value).toISOString();
    submit.disabled = true;
    request('POST', '/v1/deployments', body)
      .then(() => {
        ctx.notify(`Deployed to ${group.value}.`);
        updateDetailView(ctx, updateId);
      })
      .catch((err: unknown) => {
        // The server's message names the field: show it beside that field when it does.
        const msg = messageOf(err);
        const named = (Object.keys(fields) as Array<keyof typeof fields>).find((k) =>
          msg.toLowerCase().startsWith(k === 'percent' ? 'percent' : k),
        );
        if (named !== undefined) fields[named].error.textContent = msg;
        else ctx.fail(err);
      })
      .finally(() => {
        submit.disabled = false;
      });
  });
  return form;
}
