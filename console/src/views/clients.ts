import { query, request } from '../api.js';
import { h, show, when } from '../dom.js';
import { pagedTable } from '../table.js';
import {
  badge,
  csvLink,
  heading,
  may,
  showFormError,
  simpleTable,
  type ViewContext,
} from './common.js';

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
  const selectionChanged = (): void => {
    approveSelected.disabled = selected.size === 0;
    approveSelected.textContent =
      selected.size === 0 ? 'Approve selected' : `Approve selected (${selected.size})`;
  };
  approveSelected.addEventListener('click', () => {
    const ids = [...selected];
    approveSelected.disabled = true;
    void (async () => {
      // One at a time, each its own change in the audit log; a refusal does not stop the rest.
      const failed: string[] = [];
      let lastError: unknown;
      for (const id of ids)
        await act(id, 'approve').catch((err: unknown) => {
          failed.push(id);
          lastError = err;
        });
      const ok = ids.length - failed.length;
      ctx.notify(`Approved ${ok} client${ok === 1 ? '' : 's'}.`);
      if (failed.length > 0) ctx.fail(lastError);
      else reload();
    })();
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
                box.checked = selected.has(c.clientId);
                box.addEventListener('change', () => {
                  if (box.checked) selected.add(c.clientId);
                  else selected.delete(c.clientId);
                  selectionChanged();
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
                if (c.status === 'conflict')
                  buttons.push(
                    h(
                      'a',
                      {
                        href: `#/clients/${encodeURIComponent(c.clientId)}`,
                        class: 'button small',
                        'aria-label': `Resolve ${c.name}`,
                      },
                      'Resolve',
                    ),
                  );
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
  // Every pending client of the page shown, in one click (the boxes stay the record of it).
  const selectPage = h('button', { type: 'button', class: 'secondary' }, 'Select all on this page');
  selectPage.addEventListener('click', () => {
    for (const box of table.querySelectorAll<HTMLInputElement>('tbody input[type="checkbox"]')) {
      if (box.checked) continue;
      box.checked = true;
      box.dispatchEvent(new Event('change'));
    }
  });
  show(
    ctx.main,
    heading(group === '' ? 'Clients' : `Clients in ${group}`),
    form,
    canApprove ? h('div', { class: 'bulk' }, selectPage, approveSelected) : null,
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
interface ClientRecord extends ClientItem {
  hardwareId: string;
  recordState: 'active' | 'conflict' | 'obsolete';
  replacedBy: string | null;
  cloneSuspected: boolean;
  createdAt: string;
}

/** One client: its record, a conflict's resolution, and its history of state messages. */
export function clientDetailView(ctx: ViewContext, clientId: string): void {
  show(ctx.main, heading('Client'), h('p', { class: 'muted' }, 'Loading…'));
  void request<{ client: ClientRecord; history: HistoryEntry[] }>(
    'GET',
    `/v1/clients/${encodeURIComponent(clientId)}`,
  )
    .then(async ({ client, history }) => {
      const other =
        client.conflictWith === null
          ? undefined
          : await request<{ client: ClientRecord }>(
              'GET',
              `/v1/clients/${encodeURIComponent(client.conflictWith)}`,
            ).then(
              (d) => d.client,
              () => undefined,
            );
      const facts: Array<[string, string | HTMLElement]> = [
        ['Client ID', client.clientId],
        ['Hardware ID', client.hardwareId],
        ['Status', client.status + (client.blocked ? ', blocked' : '')],
        ['Record', client.recordState],
        ['Operating system', `${client.os} ${client.architecture}`],
        ['Agent', `${client.clientVersion} (${client.channel})`],
        ['Groups', client.groups.join(', ')],
        ['Registered', when(client.createdAt)],
        ['Last contact', when(client.lastContact)],
      ];
      if (client.replacedBy !== null)
        facts.push([
          'Replaced by',
          h('a', { href: `#/clients/${encodeURIComponent(client.replacedBy)}` }, client.replacedBy),
        ]);
      show(
        ctx.main,
        heading(client.name, badge(client.status, client.status)),
        h(
          'dl',
          { class: 'facts' },
          facts.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]),
        ),
        client.recordState === 'conflict' ? conflictSection(ctx, client, other) : null,
        h('h2', {}, 'History'),
        h(
          'p',
          {},
          csvLink(
            `/v1/reports/clients/${encodeURIComponent(client.clientId)}/history`,
            'Download history CSV',
          ),
        ),
        historyTable(history),
      );
    })
    .catch(ctx.fail);
}

/**
 * A duplicate identity (two records claim one machine): both side by side, and the three ways
 * out that `upcat clients resolve` offers.
 */
function conflictSection(
  ctx: ViewContext,
  client: ClientRecord,
  other: ClientRecord | undefined,
): HTMLElement {
  const row = (c: ClientRecord | undefined, label: string): Array<Node | string> =>
    c === undefined
      ? [label, '—', '—', '—', '—']
      : [
          label,
          h('a', { href: `#/clients/${encodeURIComponent(c.clientId)}` }, c.name),
          c.hardwareId,
          `${c.status}${c.blocked ? ', blocked' : ''}`,
          when(c.lastContact),
        ];
  const choices: Array<[string, string]> = [
    ['merge', 'The same machine: this record replaces the other (approval and groups carry over)'],
    ['new', 'A different machine: keep both records'],
    ['block', 'Refuse this record from now on'],
  ];
  const radios = choices.map(([value, label], i) => {
    const input = h('input', {
      type: 'radio',
      name: 'how',
      id: `resolve-${value}`,
      value,
      checked: i === 0,
    });
    return h('div', { class: 'check' }, input, h('label', { for: `resolve-${value}` }, label));
  });
  const error = h('p', { class: 'field-error', id: 'resolve-error', 'aria-live': 'polite' });
  const submit = h('button', { type: 'submit' }, 'Resolve conflict');
  const form = h(
    'form',
    { class: 'deploy', novalidate: true },
    h('fieldset', {}, h('legend', {}, 'How to resolve it'), radios),
    submit,
    error,
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const how = form.querySelector<HTMLInputElement>('input[name="how"]:checked')?.value;
    submit.disabled = true;
    request('POST', `/v1/clients/${encodeURIComponent(client.clientId)}/resolve`, { how })
      .then(() => {
        ctx.notify(`Resolved the conflict of ${client.name}: ${how ?? ''}.`);
        clientDetailView(ctx, client.clientId);
      })
      .catch((err: unknown) => showFormError(ctx, { how: { error } }, err))
      .finally(() => {
        submit.disabled = false;
      });
  });
  return h(
    'section',
    { class: 'conflict', 'aria-labelledby': 'c-conflict' },
    h('h2', { id: 'c-conflict' }, 'Duplicate identity'),
    h(
      'p',
      {},
      'This record claims the same machine as another one. Compare them and choose what is true.',
    ),
    simpleTable(
      'The two records',
      ['', 'Name', 'Hardware ID', 'Status', 'Last contact'],
      [row(client, 'This record'), row(other, 'The other record')],
    ),
    may(ctx.user, 'approve') ? form : null,
  );
}

function historyTable(history: HistoryEntry[]): HTMLElement {
  return simpleTable(
    'State messages, newest first',
    ['Received', 'Topic', 'Update', 'State', 'Code', 'Detail'],
    history.map((m) => [
      when(m.receivedAt),
      m.topic,
      m.updateId === null
        ? '—'
        : h(
            'a',
            { href: `#/updates/${m.updateId}` },
            `${m.updateId.slice(0, 8)} rev ${m.revision ?? '?'}`,
          ),
      m.state,
      m.code === null ? '—' : String(m.code),
      m.detail ?? '',
    ]),
    [4],
  );
}
