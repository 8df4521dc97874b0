import { ApiError, type User } from '../api.js';
import { h } from '../dom.js';
import { tableHead } from '../table.js';

/** What every view gets: where to draw, who is logged in, and how to report a failure. */
export interface ViewContext {
  main: HTMLElement;
  user: User;
  /** Shows an error in the page's alert region (read out by screen readers). */
  fail: (err: unknown) => void;
  /** Shows a success notice. */
  notify: (message: string) => void;
  navigate: (hash: string) => void;
}

export function messageOf(err: unknown): string {
  if (err instanceof ApiError) return err.message;
  return err instanceof Error ? err.message : String(err);
}

/** True when the user's role may make changes of this kind (the server decides in the end). */
export function may(user: User, what: 'deploy' | 'approve' | 'admin'): boolean {
  if (user.role === 'admin') return true;
  return user.role === 'operator' && what !== 'admin';
}

export function heading(title: string, ...rest: Array<Node | string>): HTMLElement {
  return h('header', { class: 'view-head' }, h('h1', { tabindex: -1 }, title), ...rest);
}

/** A labelled form field; the error for it is shown next to it. */
export function field(
  label: string,
  control: HTMLInputElement | HTMLSelectElement,
  hint?: string,
): { wrap: HTMLElement; error: HTMLElement } {
  const id = control.id !== '' ? control.id : `f-${Math.random().toString(36).slice(2, 9)}`;
  control.id = id;
  const error = h('span', { class: 'field-error', id: `${id}-error`, 'aria-live': 'polite' });
  control.setAttribute('aria-describedby', `${id}-error`);
  return {
    wrap: h(
      'div',
      { class: 'field' },
      h('label', { for: id }, label),
      control,
      hint === undefined ? null : h('span', { class: 'hint' }, hint),
      error,
    ),
    error,
  };
}

export function badge(text: string, kind: string): HTMLElement {
  return h('span', { class: `badge badge-${kind}` }, text);
}

/**
 * A failed change shown where it belongs: the server's messages start with the field they are
 * about (`name: must not be empty`), so the error goes beside that field when the form has it,
 * and to the page's alert region otherwise.
 */
export function showFormError(
  ctx: Pick<ViewContext, 'fail'>,
  fields: Record<string, { error: HTMLElement }>,
  err: unknown,
): void {
  const msg = messageOf(err);
  // `name: …`, or a schema's `invalid rollout: rings[1].wait: …` (src/validation.ts): the
  // field's path without punctuation (`rings1wait`) names a field of a list, its first word any other.
  const path = /^(?:invalid [\w -]+?: )?([A-Za-z]+[\w.[\]]*):/.exec(msg)?.[1];
  const only = Object.values(fields).length === 1 ? Object.values(fields)[0] : undefined;
  const target =
    (path === undefined
      ? undefined
      : (fields[path.replace(/[^A-Za-z0-9]/g, '')] ??
        fields[/^[A-Za-z]+/.exec(path)?.[0] ?? ''])) ?? only;
  // A refusal of the request as a whole (no session, not allowed, gone) goes to the page.
  const aboutInput = err instanceof ApiError && [400, 404, 409].includes(err.status);
  if (target !== undefined && aboutInput) {
    target.error.textContent = msg;
    return;
  }
  ctx.fail(err);
}

/** Clears the errors beside the fields before a new attempt. */
export function clearErrors(fields: Record<string, { error: HTMLElement }>): void {
  for (const f of Object.values(fields)) f.error.textContent = '';
}

/**
 * A CSV download of a report: a plain link to the API's `?format=csv` answer, which the browser
 * fetches with the session cookie and saves under the server's file name.
 */
export function csvLink(path: string, label: string): HTMLElement {
  const sep = path.includes('?') ? '&' : '?';
  return h(
    'a',
    { href: `${path}${sep}format=csv`, download: '', class: 'button secondary' },
    label,
  );
}

/** A small table with a caption and header row, all built from text. */
export function simpleTable(
  caption: string,
  headers: string[],
  rows: Array<Array<Node | string>>,
  numeric: number[] = [],
): HTMLElement {
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      {},
      tableHead(
        caption,
        headers,
        headers.map((_, i) => numeric.includes(i)),
      ),
      h(
        'tbody',
        {},
        rows.length === 0
          ? h('tr', {}, h('td', { colspan: headers.length, class: 'muted' }, 'Nothing to show.'))
          : rows.map((r) =>
              h(
                'tr',
                {},
                r.map((c, i) => h('td', numeric.includes(i) ? { class: 'num' } : {}, c)),
              ),
            ),
      ),
    ),
  );
}
