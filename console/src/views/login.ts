import { logIn, type User } from '../api.js';
import { h, show } from '../dom.js';
import { field, messageOf } from './common.js';

/**
 * The login form. After an expired session the same form comes back over the page; what the
 * administrator had typed in the page stays in the page's own inputs, which are left in place.
 */
export function loginView(
  main: HTMLElement,
  onLoggedIn: (user: User) => void,
  notice?: string,
): void {
  const name = h('input', { name: 'username', autocomplete: 'username', required: true });
  const password = h('input', {
    name: 'password',
    type: 'password',
    autocomplete: 'current-password',
    required: true,
  });
  const nameField = field('User name', name);
  const passwordField = field('Password', password);
  const alert = h('p', { class: 'alert', role: 'alert' });
  const submit = h('button', { type: 'submit' }, 'Log in');
  const form = h(
    'form',
    { class: 'login', novalidate: true },
    h('h1', {}, 'Log in to upcat'),
    notice === undefined ? null : h('p', { class: 'notice' }, notice),
    nameField.wrap,
    passwordField.wrap,
    submit,
    alert,
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    nameField.error.textContent = name.value.trim() === '' ? 'Enter your user name.' : '';
    passwordField.error.textContent = password.value === '' ? 'Enter your password.' : '';
    if (name.value.trim() === '' || password.value === '') return;
    submit.disabled = true;
    alert.textContent = '';
    logIn(name.value.trim(), password.value)
      .then(onLoggedIn)
      .catch((err: unknown) => {
        alert.textContent = messageOf(err);
        password.value = '';
        password.focus();
      })
      .finally(() => {
        submit.disabled = false;
      });
  });
  show(main, form);
  name.focus();
}
