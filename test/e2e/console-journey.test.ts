import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import type { Page } from 'playwright-core';
import { openSite, type Site } from '../../src/app.js';
import { endpoint, linux, markerOf, markerPackage } from '../helpers/agent-endpoint.js';
import { registration } from '../helpers/clients.js';
import { startServe } from '../helpers/processes.js';
import { publishFile } from '../helpers/publish.js';
import { tokenOf } from '../helpers/tokens.js';
import {
  checkPage,
  consoleHome,
  fitsWidth,
  focused,
  launch,
  logIn,
  PASSWORD,
} from './console-browser.js';

/**
 * The console's second journey in chromium (issue 14 items 5 and 7): an endpoint's real agent
 * registers; an admin approves it with others in one action, makes a ring and puts the endpoint
 * in it, deploys an update to the ring, the agent installs it, and the dashboard and the reports
 * (table, chart over time, CSV) change; a duplicate identity is resolved; groups are created,
 * renamed and deleted with errors beside their fields; tokens and users are managed by an admin
 * and refused to an operator; typed input survives a lost session; every page passes axe-core,
 * is usable by keyboard and fits a laptop's 1024 px.
 */

async function conflictPair(site: Site): Promise<{ kept: string; duplicate: string }> {
  const row = (id: string, name: string, state: string, conflictWith: string | null) => ({
    client_id: id,
    hardware_id: 'hw-twin',
    name,
    os: 'linux',
    architecture: 'x64',
    client_version: '1.0.0',
    approval: 'approved',
    blocked: false,
    record_state: state,
    conflict_with: conflictWith,
    created_at: new Date().toISOString(),
    last_contact: null,
  });
  const kept = randomUUID();
  const duplicate = randomUUID();
  await site.db('clients').insert(row(kept, 'twin-a', 'active', null));
  await site.db('clients').insert(row(duplicate, 'twin-b', 'conflict', kept));
  return { kept, duplicate };
}

/** The numbers of the dashboard's compliance row for a title, as the page shows them. */
async function complianceRow(page: Page, title: string): Promise<string[]> {
  const row = page.getByRole('row').filter({ hasText: title });
  await row.first().waitFor();
  return (await row.first().getByRole('cell').allTextContents()).slice(2, 5);
}

test('the console in chromium: deploy to a ring, run an agent, watch the reports; groups, conflicts, tokens, users, keyboard, 1024 px', async (t) => {
  t.timeout(300_000);
  const { home, env } = await consoleHome(t, 'upcat-console-journey-');

  const site = await openSite({ home, env, logLevel: 'silent' });
  const published = await publishFile(site, await markerPackage(home, 'Contoso Client', '3.0'), {
    title: 'Contoso Client 3.0',
    product: 'Contoso Client',
    classification: 'Updates',
    version: '3.0',
    handler: { type: 'commandLine', program: 'setup.sh' },
    isInstallable: { Platform: { Name: 'linux' } },
  });
  await site.users.add({ name: 'ada', role: 'admin', password: PASSWORD }, 'test');
  await site.users.add({ name: 'otto', role: 'operator', password: PASSWORD }, 'test');
  const twins = await conflictPair(site);
  const token = await tokenOf(site, 'admin');
  await site.close();

  const served = await startServe(env);
  t.teardown(() => served.stop());
  const base = served.url;
  const api = async <T>(method: string, route: string): Promise<{ status: number; body: T }> => {
    const res = await fetch(`${base}${route}`, {
      method,
      headers: { authorization: `Bearer ${token}` },
    });
    return { status: res.status, body: (await res.json()) as T };
  };
  const clientOf = async (id: string) =>
    (
      await api<{ client: { status: string; recordState: string; groups: string[] } }>(
        'GET',
        `/v1/clients/${id}`,
      )
    ).body.client;

  // A real endpoint registers (pending: this site needs an approval), and two more machines.
  const work = await mkdtemp(path.join(os.tmpdir(), 'upcat-console-agent-'));
  t.teardown(() => rm(work, { recursive: true, force: true }));
  const pc = await endpoint(work, 'agent-1', linux('x64'));
  await pc.run(base);
  for (const n of [1, 2])
    await fetch(`${base}/v1/clients`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(registration({ hardwareId: `hw-extra-${n}`, name: `extra-${n}` })),
    });

  const browser = await launch(t);
  const admin = await logIn(browser, base, 'ada');

  // Approve many at once: every pending client of the page, one action.
  await admin.goto(`${base}/console/#/clients?status=pending`);
  await admin.getByRole('link', { name: 'agent-1' }).waitFor();
  await admin.getByRole('button', { name: 'Select all on this page' }).click();
  await admin.getByRole('button', { name: 'Approve selected (3)' }).click();
  await admin.getByRole('status').filter({ hasText: 'Approved 3 clients.' }).waitFor();
  const pending = await api<{ clients: unknown[] }>('GET', '/v1/clients?status=pending');
  t.is(pending.body.clients.length, 0);

  // A ring, made by keyboard only: the field, typing, Enter; its error is beside the field.
  await admin.goto(`${base}/console/#/groups`);
  const newName = admin.getByLabel('New group name');
  await newName.focus();
  await admin.keyboard.press('Enter');
  await admin.getByText('name: enter a name.').waitFor();
  await admin.keyboard.type('All Computers');
  await admin.keyboard.press('Enter');
  await admin.getByText('name: group "All Computers" already exists').waitFor();
  await newName.fill('');
  await admin.keyboard.type('Ring 1');
  // The focus is visible when it moves by keyboard.
  await admin.keyboard.press('Tab');
  const focus = await focused(admin);
  t.is(focus.text, 'Create group');
  t.not(focus.outline, 'none');
  await admin.keyboard.press('Enter');
  await admin.getByRole('heading', { name: 'Ring 1' }).waitFor();
  await admin.getByLabel('Add clients').fill('agent-1');
  await admin.getByRole('button', { name: 'Add to group' }).click();
  await admin.getByRole('status').filter({ hasText: 'Added 1 client to Ring 1.' }).waitFor();
  await admin.getByRole('link', { name: 'agent-1' }).waitFor();
  await checkPage(t, admin, 'group');

  // Deploy the update to the ring; before the agent runs, the endpoint is pending.
  await admin.goto(`${base}/console/#/updates/${published.updateId}`);
  await admin.getByLabel('Group', { exact: true }).selectOption('Ring 1');
  await admin.getByRole('button', { name: 'Deploy', exact: true }).click();
  await admin.getByRole('status').filter({ hasText: 'Deployed to Ring 1' }).waitFor();
  await admin.goto(`${base}/console/#/dashboard`);
  t.deepEqual(await complianceRow(admin, 'Contoso Client 3.0'), ['0', '0', '1']);

  // The agent runs its cycle: it installs; the dashboard and the reports say so.
  const run = await pc.run(base);
  t.is(run.code, 0, run.stderr);
  t.deepEqual(await pc.markers(), [markerOf('Contoso Client', '3.0')]);
  await admin.reload();
  t.deepEqual(await complianceRow(admin, 'Contoso Client 3.0'), ['1', '0', '0']);
  await admin.goto(`${base}/console/#/reports`);
  await admin.getByRole('img', { name: /Installed 1, Failed 0, Pending 0/ }).waitFor();
  await checkPage(t, admin, 'reports');
  const csvHref = await admin
    .getByRole('link', { name: 'Download compliance CSV' })
    .getAttribute('href');
  const csv = await admin.evaluate(async (href) => (await fetch(href ?? '')).text(), csvHref);
  t.regex(
    csv,
    /^updateId,revision,group,title,status,installed,.*\r\n.*Ring 1,Contoso Client 3.0,active,1,/s,
  );
  await admin.getByRole('link', { name: 'Over time: Contoso Client 3.0 in Ring 1' }).click();
  await admin.getByLabel('Interval').selectOption('hour');
  await admin.getByRole('button', { name: 'Show' }).click();
  await admin.getByRole('img', { name: /latest Installed 1, Failed 0, Pending 0/ }).waitFor();
  await checkPage(t, admin, 'history');

  // The endpoint's own page: its history, as the agent reported it.
  await admin.goto(`${base}/console/#/clients?search=agent-1`);
  await admin.getByRole('link', { name: 'agent-1' }).click();
  await admin.getByRole('cell', { name: 'installed', exact: true }).waitFor();

  // A duplicate identity: both records side by side, resolved as two machines.
  await admin.goto(`${base}/console/#/clients?status=conflict`);
  await admin.getByRole('link', { name: 'Resolve twin-b' }).click();
  await admin.getByRole('heading', { name: 'Duplicate identity' }).waitFor();
  await checkPage(t, admin, 'conflict');
  await admin.getByLabel('A different machine: keep both records').check();
  await admin.getByRole('button', { name: 'Resolve conflict' }).click();
  await admin.getByRole('status').filter({ hasText: 'Resolved the conflict of twin-b' }).waitFor();
  t.is((await clientOf(twins.duplicate)).recordState, 'active');
  t.is((await clientOf(twins.kept)).recordState, 'active');

  // Rename and delete a group; a bad name is refused by the server, beside the field.
  await admin.goto(`${base}/console/#/groups`);
  await admin.getByLabel('New group name').fill('Scratch');
  await admin.getByRole('button', { name: 'Create group' }).click();
  await admin.getByRole('heading', { name: 'Scratch' }).waitFor();
  await admin.getByLabel('New name').fill('Ring 1');
  await admin.getByRole('button', { name: 'Rename' }).click();
  await admin.getByText('name: group "Ring 1" already exists').waitFor();
  await admin.getByLabel('New name').fill('Scratch 2');
  await admin.getByRole('button', { name: 'Rename' }).click();
  await admin.getByRole('heading', { name: 'Scratch 2' }).waitFor();
  admin.once('dialog', (d) => void d.accept());
  await admin.getByRole('button', { name: 'Delete group' }).click();
  await admin.getByRole('status').filter({ hasText: 'Deleted group Scratch 2.' }).waitFor();
  t.is((await api('GET', '/v1/groups/Scratch%202')).status, 404);

  // Typed input survives a lost session: log in again and the form is as it was.
  await admin.getByLabel('New group name').fill('Ring 2');
  await admin.context().clearCookies();
  await admin.getByRole('button', { name: 'Create group' }).click();
  await admin.getByText('Your session has ended.').waitFor();
  await admin.getByLabel('User name').fill('ada');
  await admin.getByLabel('Password').fill(PASSWORD);
  await admin.getByRole('button', { name: 'Log in' }).click();
  t.is(await admin.getByLabel('New group name').inputValue(), 'Ring 2');
  await admin.getByRole('button', { name: 'Create group' }).click();
  await admin.getByRole('heading', { name: 'Ring 2' }).waitFor();

  // A rollout through Ring 2, from the update's page; a bad wait is refused beside its field;
  // the rollout's page follows it live, and pausing and resuming reach the API.
  await admin.goto(`${base}/console/#/updates/${published.updateId}`);
  await admin.getByRole('link', { name: 'Roll out through rings instead' }).click();
  t.is(await admin.getByLabel('Update ID').inputValue(), published.updateId);
  await admin.getByLabel('Group', { exact: true }).selectOption('Ring 2');
  await admin.getByLabel('Wait', { exact: true }).fill('later');
  await admin.getByRole('button', { name: 'Start rollout' }).click();
  await admin.getByText(/rings\[0\]\.wait: must be a duration/).waitFor();
  await admin.getByLabel('Wait', { exact: true }).fill('0');
  await admin.getByRole('button', { name: 'Start rollout' }).click();
  await admin.getByRole('heading', { name: 'Contoso Client 3.0' }).waitFor();
  await admin.getByRole('cell', { name: 'Ring 2' }).waitFor();
  await checkPage(t, admin, 'rollout');
  const rolloutId = /#\/rollouts\/(\d+)/.exec(admin.url())?.[1] ?? '';
  await admin.getByRole('button', { name: 'Pause' }).click();
  await admin.getByRole('button', { name: 'Resume' }).waitFor();
  t.is((await api<{ status: string }>('GET', `/v1/rollouts/${rolloutId}`)).body.status, 'paused');
  await admin.getByRole('button', { name: 'Resume' }).click();
  await admin.getByRole('button', { name: 'Pause' }).waitFor();
  t.is((await api<{ status: string }>('GET', `/v1/rollouts/${rolloutId}`)).body.status, 'running');
  await admin.goto(`${base}/console/#/dashboard`);
  await admin.getByRole('link', { name: 'Contoso Client 3.0' }).first().waitFor();
  t.regex(
    (await admin.getByRole('region', { name: 'Rollouts in progress' }).textContent()) ?? '',
    /Contoso Client 3.0.*running, ring 1/,
  );

  // Tokens: the secret is shown once; revoking ends it.
  await admin.goto(`${base}/console/#/tokens`);
  await admin.getByLabel('Token name').fill('release-pipeline');
  await admin.getByLabel('Scope').selectOption('publish');
  await admin.getByLabel('Expires in').fill('soon');
  await admin.getByRole('button', { name: 'Create token' }).click();
  await admin.getByText(/expires: "soon" is not a duration/).waitFor();
  await admin.getByLabel('Expires in').fill('90d');
  await admin.getByRole('button', { name: 'Create token' }).click();
  const secret = await admin
    .getByRole('textbox', { name: /The secret of release-pipeline/ })
    .inputValue();
  t.regex(secret, /^upcat_[0-9a-f-]{36}\./);
  const probe = await fetch(`${base}/v1/clients`, {
    headers: { authorization: `Bearer ${secret}` },
  });
  t.is(probe.status, 200);
  await checkPage(t, admin, 'tokens');
  admin.once('dialog', (d) => void d.accept());
  await admin.getByRole('button', { name: 'Revoke release-pipeline' }).click();
  await admin.getByRole('status').filter({ hasText: 'Revoked release-pipeline.' }).waitFor();
  const after = await fetch(`${base}/v1/clients`, {
    headers: { authorization: `Bearer ${secret}` },
  });
  t.is(after.status, 401);

  // Users: a short password is refused beside its field; add, change the role, remove.
  await admin.goto(`${base}/console/#/users`);
  await admin.getByLabel('Account name').fill('olga');
  await admin.getByLabel('Role', { exact: true }).selectOption('operator');
  await admin.getByLabel('Password', { exact: true }).fill('short');
  await admin.getByRole('button', { name: 'Add user' }).click();
  await admin.getByText(/password: must be at least/).waitFor();
  await admin.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await admin.getByRole('button', { name: 'Add user' }).click();
  await admin.getByRole('status').filter({ hasText: 'Added olga (operator).' }).waitFor();
  await admin.getByLabel('Role of olga', { exact: true }).selectOption('viewer');
  await admin.getByRole('button', { name: 'Set role of olga' }).click();
  await admin.getByRole('status').filter({ hasText: 'olga is now viewer.' }).waitFor();
  const users = await api<{ users: Array<{ name: string; role: string }> }>('GET', '/v1/users');
  t.like(
    users.body.users.find((u) => u.name === 'olga'),
    { role: 'viewer' },
  );
  await checkPage(t, admin, 'users');
  admin.once('dialog', (d) => void d.accept());
  await admin.getByRole('button', { name: 'Remove olga' }).click();
  await admin.getByRole('status').filter({ hasText: 'Removed olga.' }).waitFor();

  // An operator sees neither page, and the API refuses them with the console's own session.
  const operator = await logIn(browser, base, 'otto');
  t.is(await operator.getByRole('link', { name: 'Tokens' }).count(), 0);
  t.is(await operator.getByRole('link', { name: 'Users' }).count(), 0);
  const refused = await operator.evaluate(async () =>
    Promise.all(['/v1/tokens', '/v1/users'].map(async (p) => (await fetch(p)).status)),
  );
  t.deepEqual(refused, [403, 403]);

  // A laptop's width: every page fits and stays accessible.
  const laptop = await logIn(browser, base, 'ada', 1024);
  for (const view of [
    'dashboard',
    'clients',
    'groups/Ring%201',
    'reports',
    'rollouts',
    'tokens',
    'users',
    `updates/${published.updateId}`,
  ]) {
    await laptop.goto(`${base}/console/#/${view}`);
    await laptop.getByRole('heading', { level: 1 }).waitFor();
    await laptop.waitForLoadState('networkidle');
    t.true(await fitsWidth(laptop), `${view} fits 1024 px`);
    await checkPage(t, laptop, `${view} at 1024 px`, false);
  }
});
