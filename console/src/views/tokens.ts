import { query, request } from '../api.js';
import { h, show, when } from '../dom.js';
import { pagedTable } from '../table.js';
import { badge, clearErrors, field, heading, showFormError, type ViewContext } from './common.js';

interface Token {
  id: string;
  name: string;
  scope: string;
  createdAt: string;
  expiresAt: string | null;
  lastUsedAt: string | null;
  state: 'active' | 'expired' | 'revoked';
}
interface Created {
  id: string;
  name: string;
  scope: string;
  token: string;
  expiresAt: string | null;
}

const SCOPES = ['read', 'publish', 'approve', 'admin', 'enroll'];

/** API tokens (admins only; the server refuses the others): list, create, revoke. */
export function tokensView(ctx: ViewContext): void {
  const secretBox = h('div', { 'aria-live': 'polite' });
  const slot = h('div', {});
  const render = (): void => show(slot, tokenTable(ctx));
  render();
  show(ctx.main, heading('API tokens'), createForm(ctx, secretBox, render), secretBox, slot);
}

function tokenTable(ctx: ViewContext): HTMLElement {
  return pagedTable<Token>(
    'API tokens',
    [
      { title: 'Name', cell: (t) => t.name },
      { title: 'Scope', cell: (t) => t.scope },
      { title: 'State', cell: (t) => badge(t.state, t.state === 'active' ? 'live' : 'expired') },
      { title: 'Created', cell: (t) => when(t.createdAt) },
      { title: 'Expires', cell: (t) => (t.expiresAt === null ? 'never' : when(t.expiresAt)) },
      { title: 'Last used', cell: (t) => when(t.lastUsedAt) },
      {
        title: 'Actions',
        cell: (t) => {
          if (t.state !== 'active') return '';
          const b = h(
            'button',
            { type: 'button', class: 'small danger', 'aria-label': `Revoke ${t.name}` },
            'Revoke',
          );
          b.addEventListener('click', () => {
            if (!window.confirm(`Revoke the token ${t.name}? Whatever uses it stops working.`))
              return;
            b.disabled = true;
            request('DELETE', `/v1/tokens/${encodeURIComponent(t.id)}`)
              .then(() => {
                ctx.notify(`Revoked ${t.name}.`);
                ctx.navigate('#/tokens');
              })
              .catch((err: unknown) => {
                b.disabled = false;
                ctx.fail(err);
              });
          });
          return b;
        },
      },
    ],
    async (cursor) => {
      const page = await request<{ tokens: Token[]; next: string | null }>(
        'GET',
        `/v1/tokens${query({ limit: 50, cursor })}`,
      );
      return { items: page.tokens, next: page.next };
    },
    ctx.fail,
  );
}

function createForm(ctx: ViewContext, secretBox: HTMLElement, refresh: () => void): HTMLElement {
  const name = h('input', { id: 'token-name', name: 'name', autocomplete: 'off' });
  const scope = h(
    'select',
    { id: 'token-scope', name: 'scope' },
    SCOPES.map((s) => h('option', { value: s }, s)),
  );
  const expiresIn = h('input', {
    id: 'token-expires',
    name: 'expiresIn',
    autocomplete: 'off',
    placeholder: '90d',
  });
  const fields = {
    name: field('Token name', name, 'who or what will use it, e.g. release-pipeline'),
    scope: field('Scope', scope),
    expiresIn: field('Expires in', expiresIn, 'optional: a duration such as 90d or 12h'),
  };
  const submit = h('button', { type: 'submit' }, 'Create token');
  const form = h(
    'form',
    { class: 'deploy', novalidate: true },
    h('h2', {}, 'New token'),
    Object.values(fields).map((f) => f.wrap),
    submit,
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    clearErrors(fields);
    const body: Record<string, string> = { scope: scope.value };
    if (name.value.trim() !== '') body['name'] = name.value.trim();
    if (expiresIn.value.trim() !== '') body['expiresIn'] = expiresIn.value.trim();
    submit.disabled = true;
    request<Created>('POST', '/v1/tokens', body)
      .then((created) => {
        // The secret exists in this answer only: shown once, never stored by the console.
        const secret = h('input', {
          id: 'token-secret',
          readonly: true,
          value: created.token,
          class: 'secret',
        });
        show(
          secretBox,
          h(
            'div',
            { class: 'secret-box', role: 'region', 'aria-labelledby': 'token-secret-label' },
            h(
              'label',
              { for: 'token-secret', id: 'token-secret-label' },
              `The secret of ${created.name} (${created.scope}). Copy it now: it is not shown again.`,
            ),
            secret,
          ),
        );
        refresh();
        secret.focus();
        secret.select();
        name.value = '';
        expiresIn.value = '';
      })
      // The service names the duration `expires` in its message.
      .catch((err: unknown) => showFormError(ctx, { ...fields, expires: fields.expiresIn }, err))
      .finally(() => {
        submit.disabled = false;
      });
  });
  return form;
}
