import { ApiError, currentUser, logOut, whenSessionLost, type User } from './api.js';
import { h, show } from './dom.js';
import { auditView } from './views/audit.js';
import { clientDetailView, clientsView } from './views/clients.js';
import { messageOf, type ViewContext } from './views/common.js';
import { dashboardView } from './views/dashboard.js';
import { groupDetailView, groupsView } from './views/groups.js';
import { loginView } from './views/login.js';
import { historyView, reportsView } from './views/reports.js';
import { rolloutDetailView, rolloutsView } from './views/rollouts.js';
import { tokensView } from './views/tokens.js';
import { usersView } from './views/users.js';
import { updateDetailView, updatesView } from './views/updates.js';

/**
 * The console: one page, a hash route per view (`#/updates/<id>`), every figure read from the
 * public API. No framework: a few views over `fetch` and the DOM keep the first load small and
 * the behaviour plain.
 */
const root = document.getElementById('app');
if (root === null) throw new Error('the page has no #app');
const app: HTMLElement = root;

const alertBox = h('div', { class: 'alert', role: 'alert', hidden: true });
const noticeBox = h('div', { class: 'notice', role: 'status', hidden: true });
const main = h('main', { id: 'main', tabindex: -1 });
let user: User | undefined;
let noticeAt = '';

const NAV: Array<[string, string, (u: User) => boolean]> = [
  ['#/dashboard', 'Dashboard', () => true],
  ['#/updates', 'Updates', () => true],
  ['#/clients', 'Clients', () => true],
  ['#/groups', 'Groups', () => true],
  ['#/rollouts', 'Rollouts', () => true],
  ['#/reports', 'Reports', () => true],
  ['#/audit', 'Audit log', (u) => u.role === 'admin'],
  ['#/tokens', 'Tokens', (u) => u.role === 'admin'],
  ['#/users', 'Users', (u) => u.role === 'admin'],
];

function fail(err: unknown): void {
  if (err instanceof ApiError && err.status === 401) return; // the login form is coming
  alertBox.textContent = messageOf(err);
  alertBox.hidden = false;
}

function notify(message: string): void {
  noticeBox.textContent = message;
  noticeBox.hidden = false;
  noticeAt = location.hash;
}

function frame(u: User): void {
  const logout = h('button', { type: 'button', class: 'secondary small' }, 'Log out');
  logout.addEventListener('click', () => {
    void logOut().finally(() => start());
  });
  show(
    app,
    h('a', { href: '#main', class: 'skip' }, 'Skip to content'),
    h(
      'header',
      { class: 'top' },
      h('span', { class: 'brand' }, 'upcat'),
      h(
        'nav',
        { 'aria-label': 'Main' },
        h(
          'ul',
          {},
          NAV.filter(([, , allowed]) => allowed(u)).map(([href, label]) =>
            h('li', {}, h('a', { href }, label)),
          ),
        ),
      ),
      h('span', { class: 'who' }, `${u.name} (${u.role})`, logout),
    ),
    alertBox,
    noticeBox,
    main,
  );
}

/** The navigation link of the view shown is the current page. */
function markNav(hash: string): void {
  for (const a of app.querySelectorAll('nav a')) {
    const current = hash.startsWith(a.getAttribute('href') ?? '\0');
    if (current) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

function route(): void {
  if (user === undefined) return;
  const hash = location.hash === '' ? '#/dashboard' : location.hash;
  const [pathPart, search] = hash.slice(1).split('?', 2);
  const parts = (pathPart ?? '').split('/').filter((p) => p !== '');
  const params = new URLSearchParams(search ?? '');
  alertBox.hidden = true;
  // A notice belongs to the change just made: it stays on that view, and goes with the next one.
  if (location.hash !== noticeAt) noticeBox.hidden = true;
  // Each view draws into a container of its own: an answer that arrives after the administrator
  // has moved on (the detail reloaded after a deploy, say) lands in a detached container instead
  // of over the page now shown.
  const container = h('div', { class: 'view' });
  show(main, container);
  const ctx: ViewContext = {
    main: container,
    user,
    fail,
    notify,
    navigate: (to) => {
      // A notice of the change just made goes along to the page the change leads to.
      if (!noticeBox.hidden && noticeAt === location.hash) noticeAt = to;
      if (location.hash === to) route();
      else location.hash = to;
    },
  };
  markNav(hash);
  const [view, id] = [parts[0] ?? 'dashboard', parts[1]];
  // Pages of another role are not drawn at all (the server would refuse their requests anyway).
  const entry = NAV.find(([href]) => href === `#/${view}`);
  if (entry !== undefined && !entry[2](user)) {
    show(
      container,
      h('h1', { tabindex: -1 }, 'Not for your role'),
      h('p', {}, `This page is for administrators; you are logged in as ${user.role}.`),
    );
    container.querySelector('h1')?.focus();
    return;
  }
  if (view === 'updates' && id !== undefined) updateDetailView(ctx, decodeURIComponent(id));
  else if (view === 'updates') updatesView(ctx, params);
  else if (view === 'clients' && id !== undefined) clientDetailView(ctx, decodeURIComponent(id));
  else if (view === 'clients') clientsView(ctx, params);
  else if (view === 'groups' && id !== undefined) groupDetailView(ctx, decodeURIComponent(id));
  else if (view === 'groups') groupsView(ctx);
  else if (view === 'rollouts' && id !== undefined) rolloutDetailView(ctx, decodeURIComponent(id));
  else if (view === 'rollouts') rolloutsView(ctx, params);
  else if (view === 'reports' && id === 'history') historyView(ctx, params);
  else if (view === 'reports') reportsView(ctx);
  else if (view === 'audit') auditView(ctx);
  else if (view === 'tokens') tokensView(ctx);
  else if (view === 'users') usersView(ctx);
  else dashboardView(ctx);
  container.querySelector('h1')?.focus();
}

/**
 * A lost session shows the login form in place of the page. The page itself is kept aside, not
 * redrawn: after logging in as the same person, it comes back as it was, with whatever had been
 * typed into its forms, ready to be submitted again.
 */
function askLogin(notice?: string): void {
  const before = user;
  const kept = main.firstElementChild;
  const keptAt = location.hash;
  user = undefined;
  const box = h('div', { class: 'login-wrap' });
  show(app, box);
  loginView(
    box,
    (u) => {
      user = u;
      frame(u);
      const same = before?.name === u.name && before.role === u.role && location.hash === keptAt;
      if (same && kept instanceof HTMLElement) {
        show(main, kept);
        markNav(location.hash === '' ? '#/dashboard' : location.hash);
        kept.querySelector('h1')?.focus();
      } else route();
    },
    notice,
  );
}

function start(): void {
  currentUser()
    .then((u) => {
      if (u === undefined) {
        askLogin();
        return;
      }
      user = u;
      frame(u);
      route();
    })
    .catch((err: unknown) => {
      show(app, h('p', { class: 'alert', role: 'alert' }, messageOf(err)));
    });
}

whenSessionLost(() => {
  if (user !== undefined) askLogin('Your session has ended. Log in again to continue.');
});
window.addEventListener('hashchange', route);
start();
