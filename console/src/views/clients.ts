import { query, request } from '../api.js';
import { h, show, when } from '../dom.js';
import { pagedTable } from '../table.js';
import { badge, heading, may, type ViewContext } from './common.js';

interface ClientItem {
  clientId: string;
  name: string;
  os: string;
  architecture: string;
  clientVersion: string;
  status: 'approved' | 'pending' | 'conflict';
  blocked: boolean;
  groups: string[];
  lastContact: string | null;
  channel: string;
  conflictWith: string | null;
}

const STATUSES = ['', 'pending', 'approved', 'conflict', 'blocked'] as const;

/** Clients: pending approvals (one or many), block and unblock, conflicts, each client's history. */
export function clientsView(ctx: ViewContext, params: URLSearchParams): void {
  const status = h(
    'select',
    { id: 'client-status' },
    STATUSES.map((s) => h('option', { value: s }, s === '' ? 'All' : s)),
  );
  status.value = STATUSES.includes(params.get('status') as (typeof STATUSES)[number])
    ? (params.get('status') ?? '')
    : '';
  const search = h('input', { id: 'client-search', type: 'search', placeholder: 'Name or ID' });
  search.value = params.get('search') ?? '';
  // From a group's page: the clients of that group (kept while filtering).
  const group = params.get('group') ?? '';
  const selected = new Set<string>();
  const canApprove = may(ctx.user, 'approve');
  const approveSelected = h('button', { type: 'button', disabled: true }, 'Approve selected');

  const act = async (clientId: string, change: 'approve' | 'block' | 'unblock'): Promise<void> => {
    await request('POST', `/v1/clients/${encodeURIComponent(clientId)}/${change}`);
  };
  const reload = (): void => {
    const p = new URLSearchParams();
    if (status.value !== '') p.set('status', status.value);
    if (search.value.trim() !== '') p.set('search', search.value.trim());
    if (group !== '') p.set('group', group);
    ctx.navigate(`#/clients${p.toString() === '' ? '' : `?${p}`}`);
  };
  approveSelected.addEventListener('click', () => {
    const ids = [...selected];
    void (async () => {
      for (const id of ids) await act(id, 'approve');
      ctx.notify(`Approved ${ids.length} client${ids.length === 1 ? '' : 's'}.`);
      reload();
    })().catch(ctx.fail);
  });

  const filter = {
    ...(status.value === 'blocked' ? { blocked: 'true' } : { status: status.value }),
    group,
  };
  const table = pagedTable<ClientItem>(
    'Clients',
    [
      ...(canApprove
        ? [
            {
              title: 'Select',
              cell: (c: ClientItem) => {
                if (c.status !== 'pending' || c.blocked) return '';
                const box = h('input', { type: 'checkbox', 'aria-label': `select ${c.name}` });
                box.addEventListener('change', () => {
                  if (box.checked) selected.add(c.clientId);
                  else selected.delete(c.clientId);
                  approveSelected.disabled = selected.size === 0;
                });
                return box;
              },
            },
          ]
        : []),
      {
        title: 'Name',
        cell: (c) => h('a', { href: `#/clients/${encodeURIComponent(c.clientId)}` }, c.name),
      },
      {
        title: 'Status',
        cell: (c) => [badge(c.status, c.status), c.blocked ? badge('blocked', 'blocked') : ''],
      },
      { title: 'OS', cell: (c) => `${c.os} ${c.architecture}` },
      { title: 'Agent', cell: (c) => `${c.clientVersion} (${c.channel})` },
      { title: 'Groups', cell: (c) => c.groups.join(', ') },
      { title: 'Last contact', cell: (c) => when(c.lastContact) },
      ...(canApprove
        ? [
            {
              title: 'Actions',
              cell: (c: ClientItem) => {
                const buttons: HTMLElement[] = [];
                const button = (label: string, change: 'approve' | 'block' | 'unblock') => {
                  const b = h('button', { type: 'button', class: 'small' }, label);
                  b.setAttribute('aria-label', `${label} ${c.name}`);
                  b.addEventListener('click', () => {
                    b.disabled = true;
                    act(c.clientId, change)
                      .then(() => {
                        ctx.notify(`${label}: ${c.name}`);
                        reload();
                      })
                      .catch((err: unknown) => {
                        b.disabled = false;
                        ctx.fail(err);
                      });
                  });
                  buttons.push(b);
                };
                if (c.status === 'pending' && !c.blocked) button('Approve', 'approve');
                if (c.blocked) button('Unblock', 'unblock');
                else button('Block', 'block');
                return buttons;
              },
            },
          ]
        : []),
    ],
    async (cursor) => {
      const page = await request<{ clients: ClientItem[]; next: string | null }>(
        'GET',
        `/v1/clients${query({ ...filter, search: search.value.trim(), limit: 50, cursor })}`,
      );
      return { items: page.clients, next: page.next };
    },
    ctx.fail,
  );
  const form = h(
    'form',
    { class: 'filters', role: 'search' },
    h('label', { for: 'client-status' }, 'Status'),
    status,
    h('label', { for: 'client-search' }, 'Search'),
    search,
    h('button', { type: 'submit', class: 'secondary' }, 'Filter'),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    reload();
  });
  show(
    ctx.main,
    heading(group === '' ? 'Clients' : `Clients in ${group}`),
    form,
    canApprove ? approveSelected : null,
    table,
  );
}

interface HistoryEntry {
  topic: string;
  updateId: string | null;
  revision: number | null;
  state: string;
  code: number | null;
  detail: string | null;
  receivedAt: string;
}

/** One client: its record and its history of state messages. */
export function clientDetailView(ctx: ViewContext, clientId: string): void {
  show(ctx.main, heading('Client'), h('p', { class: 'muted' }, 'Loading…'));
  void Promise.all([
    request<ClientItem & Record<string, unknown>>(
      'GET',
      `/v1/clients/${encodeURIComponent(clientId)}`,
    ),
    request<{ history: HistoryEntry[] }>(
      'GET',
      `/v1/reports/clients/${encodeURIComponent(clientId)}/history`,
    ),
  ])
    .then(([client, { history }]) => {
      const facts: Array<[string, string | HTMLElement]> = [
        ['Client ID', client.clientId],
        ['Status', client.status + (client.blocked ? ', blocked' : '')],
        ['Operating system', `${client.os} ${client.architecture}`],
        ['Agent', `${client.clientVersion} (${client.channel})`],
        ['Groups', client.groups.join(', ')],
        ['Last contact', when(client.lastContact)],
      ];
      if (client.conflictWith !== null) facts.push(['Conflicts with', client.conflictWith]);
      show(
        ctx.main,
        heading(client.name),
        h(
          'dl',
          { class: 'facts' },
          facts.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]),
        ),
        h('h2', {}, 'History'),
        history.length === 0
          ? h('p', { class: 'muted' }, 'No state messages yet.')
          : h(
              'table',
              {},
              h('caption', {}, 'State messages, newest first'),
              h(
                'thead',
                {},
                h(
                  'tr',
                  {},
                  ['Received', 'Topic', 'Update', 'State', 'Code', 'Detail'].map((t) =>
                    h('th', { scope: 'col' }, t),
                  ),
                ),
              ),
              h(
                'tbody',
                {},
                history.map((m) =>
                  h(
                    'tr',
                    {},
                    h('td', {}, when(m.receivedAt)),
                    h('td', {}, m.topic),
                    h(
                      'td',
                      {},
                      m.updateId === null
                        ? '—'
                        : h(
                            'a',
                            { href: `#/updates/${m.updateId}` },
                            `${m.updateId.slice(0, 8)} rev ${m.revision ?? '?'}`,
                          ),
                    ),
                    h('td', {}, m.state),
                    h('td', { class: 'num' }, m.code === null ? '—' : String(m.code)),
                    h('td', {}, m.detail ?? ''),
                  ),
                ),
              ),
            ),
      );
    })
    .catch(ctx.fail);
}
