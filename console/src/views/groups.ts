import { query, request } from '../api.js';
import { h, show, when } from '../dom.js';
import { pagedTable } from '../table.js';
import {
  badge,
  clearErrors,
  field,
  heading,
  may,
  showFormError,
  type ViewContext,
} from './common.js';

interface Group {
  name: string;
  builtin: boolean;
  members: number;
}
interface Member {
  clientId: string;
  name: string;
  status: string;
  blocked: boolean;
  lastContact: string | null;
}
interface GroupDetail extends Group {
  deployments: number;
  clients: Member[];
  next: string | null;
}

const groupHref = (name: string): string => `#/groups/${encodeURIComponent(name)}`;

/** Groups (rings): each with its member count; create one. */
export function groupsView(ctx: ViewContext): void {
  const canChange = may(ctx.user, 'deploy');
  const table = pagedTable<Group>(
    'Groups and their members',
    [
      { title: 'Name', cell: (g) => h('a', { href: groupHref(g.name) }, g.name) },
      { title: 'Kind', cell: (g) => (g.builtin ? 'builtin' : 'named') },
      { title: 'Members', cell: (g) => String(g.members), numeric: true },
    ],
    async (cursor) => {
      const page = await request<{ groups: Group[]; next: string | null }>(
        'GET',
        `/v1/groups${query({ limit: 100, cursor })}`,
      );
      return { items: page.groups, next: page.next };
    },
    ctx.fail,
  );
  show(ctx.main, heading('Groups'), canChange ? createForm(ctx) : null, table);
}

function createForm(ctx: ViewContext): HTMLElement {
  const name = h('input', { id: 'group-new-name', name: 'name', autocomplete: 'off' });
  const fields = { name: field('New group name', name) };
  const form = h(
    'form',
    { class: 'inline-form', novalidate: true },
    fields.name.wrap,
    h('button', { type: 'submit' }, 'Create group'),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    clearErrors(fields);
    if (name.value.trim() === '') {
      fields.name.error.textContent = 'name: enter a name.';
      name.focus();
      return;
    }
    request<Group>('POST', '/v1/groups', { name: name.value })
      .then((g) => {
        ctx.notify(`Created group ${g.name}.`);
        ctx.navigate(groupHref(g.name));
      })
      .catch((err: unknown) => showFormError(ctx, fields, err));
  });
  return form;
}

/** One group: its members (paged), adding and removing them, renaming and deleting the group. */
export function groupDetailView(ctx: ViewContext, name: string): void {
  show(ctx.main, heading(name), h('p', { class: 'muted' }, 'Loading…'));
  const path = `/v1/groups/${encodeURIComponent(name)}`;
  void request<GroupDetail>('GET', `${path}?limit=1`)
    .then((g) => {
      const canChange = may(ctx.user, 'deploy') && !g.builtin;
      const members = pagedTable<Member>(
        `Members of ${g.name}`,
        [
          {
            title: 'Name',
            cell: (m) => h('a', { href: `#/clients/${encodeURIComponent(m.clientId)}` }, m.name),
          },
          {
            title: 'Status',
            cell: (m) => [badge(m.status, m.status), m.blocked ? badge('blocked', 'blocked') : ''],
          },
          { title: 'Last contact', cell: (m) => when(m.lastContact) },
          ...(canChange
            ? [
                {
                  title: 'Actions',
                  cell: (m: Member) => {
                    const b = h(
                      'button',
                      {
                        type: 'button',
                        class: 'small secondary',
                        'aria-label': `Remove ${m.name}`,
                      },
                      'Remove',
                    );
                    b.addEventListener('click', () => {
                      b.disabled = true;
                      request('DELETE', `${path}/members/${encodeURIComponent(m.clientId)}`)
                        .then(() => {
                          ctx.notify(`Removed ${m.name} from ${g.name}.`);
                          ctx.navigate(groupHref(g.name));
                        })
                        .catch((err: unknown) => {
                          b.disabled = false;
                          ctx.fail(err);
                        });
                    });
                    return b;
                  },
                },
              ]
            : []),
        ],
        async (cursor) => {
          const page = await request<GroupDetail>('GET', `${path}${query({ limit: 50, cursor })}`);
          return { items: page.clients, next: page.next };
        },
        ctx.fail,
      );
      show(
        ctx.main,
        heading(g.name, g.builtin ? badge('builtin', 'live') : ''),
        h(
          'dl',
          { class: 'facts' },
          h('dt', {}, 'Members'),
          h('dd', {}, String(g.members)),
          h('dt', {}, 'Deployments'),
          h('dd', {}, String(g.deployments)),
        ),
        h(
          'p',
          {},
          h(
            'a',
            { href: `#/clients${query({ group: g.name })}` },
            `Filter the clients list by ${g.name}`,
          ),
          g.builtin ? ' — membership of a builtin group is implied: it cannot change.' : '',
        ),
        canChange ? addMembersForm(ctx, g.name) : null,
        members,
        canChange
          ? h(
              'section',
              { class: 'danger-zone', 'aria-labelledby': 'g-manage' },
              h('h2', { id: 'g-manage' }, 'Rename or delete'),
              renameForm(ctx, g.name),
              deleteForm(ctx, g),
            )
          : null,
      );
    })
    .catch(ctx.fail);
}

function addMembersForm(ctx: ViewContext, group: string): HTMLElement {
  const refs = h('input', {
    id: 'group-add',
    name: 'clientIds',
    autocomplete: 'off',
    placeholder: 'pc-1, pc-2',
  });
  const fields = {
    clientIds: field('Add clients', refs, 'names, IDs or unique ID prefixes, separated by commas'),
  };
  const form = h(
    'form',
    { class: 'inline-form', novalidate: true },
    fields.clientIds.wrap,
    h('button', { type: 'submit' }, 'Add to group'),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    clearErrors(fields);
    const clientIds = refs.value
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
    if (clientIds.length === 0) {
      fields.clientIds.error.textContent = 'clientIds: name at least one client.';
      refs.focus();
      return;
    }
    request<{ clients: Array<{ added: boolean }> }>(
      'POST',
      `/v1/groups/${encodeURIComponent(group)}/members`,
      { clientIds },
    )
      .then(({ clients }) => {
        const added = clients.filter((c) => c.added).length;
        ctx.notify(`Added ${added} client${added === 1 ? '' : 's'} to ${group}.`);
        ctx.navigate(groupHref(group));
      })
      .catch((err: unknown) => showFormError(ctx, fields, err));
  });
  return form;
}

function renameForm(ctx: ViewContext, group: string): HTMLElement {
  const name = h('input', { id: 'group-rename', name: 'name', autocomplete: 'off' });
  name.value = group;
  const fields = { name: field('New name', name) };
  const form = h(
    'form',
    { class: 'inline-form', novalidate: true },
    fields.name.wrap,
    h('button', { type: 'submit', class: 'secondary' }, 'Rename'),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    clearErrors(fields);
    request<Group>('PATCH', `/v1/groups/${encodeURIComponent(group)}`, { name: name.value })
      .then((g) => {
        ctx.notify(`Renamed ${group} to ${g.name}.`);
        ctx.navigate(groupHref(g.name));
      })
      .catch((err: unknown) => showFormError(ctx, fields, err));
  });
  return form;
}

function deleteForm(ctx: ViewContext, g: GroupDetail): HTMLElement {
  const force = h('input', { id: 'group-force', type: 'checkbox', name: 'force' });
  const error = h('p', { class: 'field-error', id: 'group-delete-error', 'aria-live': 'polite' });
  const form = h(
    'form',
    { class: 'inline-form', novalidate: true },
    g.deployments === 0
      ? null
      : h(
          'div',
          { class: 'check' },
          force,
          h(
            'label',
            { for: 'group-force' },
            `Also remove its ${g.deployments} deployment${g.deployments === 1 ? '' : 's'}`,
          ),
        ),
    h(
      'button',
      { type: 'submit', class: 'danger', 'aria-describedby': 'group-delete-error' },
      'Delete group',
    ),
    error,
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    error.textContent = '';
    if (!window.confirm(`Delete the group ${g.name}? Its members leave it.`)) return;
    request(
      'DELETE',
      `/v1/groups/${encodeURIComponent(g.name)}${force.checked ? '?force=true' : ''}`,
    )
      .then(() => {
        ctx.notify(`Deleted group ${g.name}.`);
        ctx.navigate('#/groups');
      })
      .catch((err: unknown) => showFormError(ctx, { group: { error } }, err));
  });
  return form;
}
