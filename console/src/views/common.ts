import { ApiError, type User } from '../api.js';
import { h } from '../dom.js';

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
