import { ApiError, query, request } from '../api.js';
import { h, show, when } from '../dom.js';
import { pagedTable } from '../table.js';
import {
  clearErrors,
  field,
  heading,
  messageOf,
  showFormError,
  type ViewContext,
} from './common.js';

interface Account {
  name: string;
  role: 'admin' | 'operator' | 'viewer';
  createdAt: string;
  changedAt: string;
}

const ROLES = ['viewer', 'operator', 'admin'] as const;

/** People's accounts (admins only; the server refuses the others): add, change role, reset password, remove. */
export function usersView(ctx: ViewContext): void {
  const slot = h('div', {});
  const render = (): void => show(slot, accountTable(ctx, render));
  render();
  show(ctx.main, heading('Users'), addForm(ctx, render), slot);
}

function roleSelect(id: string, value: string): HTMLSelectElement {
  const select = h(
    'select',
    { id, name: 'role' },
    ROLES.map((r) => h('option', { value: r }, r)),
  );
  select.value = value;
  return select;
}

function accountTable(ctx: ViewContext, refresh: () => void): HTMLElement {
  const path = (a: Account): string => `/v1/users/${encodeURIComponent(a.name)}`;
  return pagedTable<Account>(
    'Accounts',
    [
      { title: 'Name', cell: (a) => a.name },
      {
        title: 'Role',
        cell: (a) => {
          const id = `role-${a.name.replace(/[^a-z0-9]/g, '-')}`;
          const select = roleSelect(id, a.role);
          select.setAttribute('aria-label', `Role of ${a.name}`);
          const error = h('span', {
            class: 'field-error',
            id: `${id}-error`,
            'aria-live': 'polite',
          });
          select.setAttribute('aria-describedby', `${id}-error`);
          // An explicit button: a select changes on every arrow key, one role change each.
          const set = h(
            'button',
            { type: 'button', class: 'small secondary', 'aria-label': `Set role of ${a.name}` },
            'Set',
          );
          set.addEventListener('click', () => {
            error.textContent = '';
            if (select.value === a.role) return;
            set.disabled = true;
            request<Account>('PATCH', path(a), { role: select.value })
              .then((u) => {
                a.role = u.role;
                ctx.notify(`${u.name} is now ${u.role}.`);
              })
              .catch((err: unknown) => {
                select.value = a.role;
                showFormError(ctx, { role: { error } }, err);
              })
              .finally(() => {
                set.disabled = false;
              });
          });
          return [select, set, error];
        },
      },
      { title: 'Created', cell: (a) => when(a.createdAt) },
      { title: 'Changed', cell: (a) => when(a.changedAt) },
      {
        title: 'Actions',
        cell: (a) => {
          const reset = h(
            'button',
            {
              type: 'button',
              class: 'small secondary',
              'aria-label': `Reset password of ${a.name}`,
            },
            'Reset password',
          );
          const remove = h(
            'button',
            { type: 'button', class: 'small danger', 'aria-label': `Remove ${a.name}` },
            'Remove',
          );
          const slot = h('div', {});
          reset.addEventListener('click', () =>
            show(
              slot,
              passwordForm(ctx, a, () => show(slot)),
            ),
          );
          remove.addEventListener('click', () => {
            if (!window.confirm(`Remove the account ${a.name}? Its sessions end at once.`)) return;
            request('DELETE', path(a))
              .then(() => {
                ctx.notify(`Removed ${a.name}.`);
                refresh();
              })
              .catch(ctx.fail);
          });
          return [reset, remove, slot];
        },
      },
    ],
    async (cursor) => {
      const page = await request<{ users: Account[]; next: string | null }>(
        'GET',
        `/v1/users${query({ limit: 50, cursor })}`,
      );
      return { items: page.users, next: page.next };
    },
    ctx.fail,
  );
}

function passwordForm(ctx: ViewContext, a: Account, done: () => void): HTMLElement {
  const id = `pw-${a.name.replace(/[^a-z0-9]/g, '-')}`;
  const password = h('input', { id, type: 'password', autocomplete: 'new-password' });
  const fields = { password: field(`New password for ${a.name}`, password) };
  const form = h(
    'form',
    { class: 'inline-form', novalidate: true },
    fields.password.wrap,
    h('button', { type: 'submit', class: 'small' }, 'Set password'),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    clearErrors(fields);
    request('POST', `/v1/users/${encodeURIComponent(a.name)}/password`, {
      password: password.value,
    })
      .then(() => {
        ctx.notify(`New password set for ${a.name}; their sessions ended.`);
        done();
      })
      .catch((err: unknown) => showFormError(ctx, fields, err));
  });
  queueMicrotask(() => password.focus());
  return form;
}

function addForm(ctx: ViewContext, refresh: () => void): HTMLElement {
  const name = h('input', { id: 'user-name', name: 'name', autocomplete: 'off' });
  const role = roleSelect('user-role', 'viewer');
  const password = h('input', {
    id: 'user-password',
    name: 'password',
    type: 'password',
    autocomplete: 'new-password',
  });
  const fields = {
    name: field('Account name', name, 'lower-case letters, digits and . _ - @'),
    role: field('Role', role),
    password: field('Password', password),
  };
  const submit = h('button', { type: 'submit' }, 'Add user');
  const form = h(
    'form',
    { class: 'deploy', novalidate: true },
    h('h2', {}, 'New user'),
    Object.values(fields).map((f) => f.wrap),
    submit,
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    clearErrors(fields);
    submit.disabled = true;
    request<Account>('POST', '/v1/users', {
      name: name.value,
      role: role.value,
      password: password.value,
    })
      .then((u) => {
        ctx.notify(`Added ${u.name} (${u.role}).`);
        name.value = '';
        password.value = '';
        refresh();
      })
      .catch((err: unknown) => {
        // "a user named … already exists" names no field, but it is about the name.
        if (err instanceof ApiError && err.status === 409)
          fields.name.error.textContent = messageOf(err);
        else showFormError(ctx, fields, err);
      })
      .finally(() => {
        submit.disabled = false;
      });
  });
  return form;
}
