import test from 'ava';
import { openSite } from '../../src/app.js';
import { registration } from '../helpers/clients.js';
import { startServe } from '../helpers/processes.js';
import { fileManifest, publishBytes } from '../helpers/publish.js';
import { tokenOf } from '../helpers/tokens.js';
import { checkPage, consoleHome, launch, logIn, PASSWORD } from './console-browser.js';

/**
 * The web console in a real browser (issue 14 item 7): Debian's chromium driven by
 * playwright-core against a real `upcat serve`. Each role logs in; an admin approves and blocks
 * clients and deploys an update through the forms, and the API confirms each change; a viewer is
 * offered no change and is refused one at the API with the console's own session; a lost
 * session brings the login form back; every page passes axe-core with no serious violation.
 * UPDATE_SCREENSHOTS=1 rewrites the pictures in docs/console/.
 */
test('the console in chromium: each role, approve, block, deploy, refusals, a lost session, accessibility', async (t) => {
  t.timeout(240_000);
  const { home, env } = await consoleHome(t, 'upcat-console-');

  const site = await openSite({ home, env, logLevel: 'silent' });
  const published = await publishBytes(
    site,
    'agent build 2.0',
    fileManifest('agent.bin', {
      title: 'Contoso Agent 2.0',
      product: 'Contoso Agent',
      version: '2.0',
    }),
    'agent.bin',
  );
  for (const [name, role] of [
    ['ada', 'admin'],
    ['otto', 'operator'],
    ['vera', 'viewer'],
  ] as const)
    await site.users.add({ name, role, password: PASSWORD }, 'test');
  const token = await tokenOf(site, 'admin');
  await site.close();

  const served = await startServe(env);
  t.teardown(() => served.stop());
  const base = served.url;
  const api = async (method: string, route: string, body?: unknown): Promise<Response> =>
    fetch(`${base}${route}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  const clientIds: string[] = [];
  for (const n of [1, 2, 3]) {
    const res = await fetch(`${base}/v1/clients`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(registration({ hardwareId: `hw-${n}`, name: `pc-${n}` })),
    });
    const body = (await res.json()) as { clientId: string; status: string };
    t.is(body.status, 'pending');
    clientIds.push(body.clientId);
  }
  const statusOf = async (id: string): Promise<{ status: string; blocked: boolean }> => {
    const { clients } = (await (await api('GET', '/v1/clients')).json()) as {
      clients: Array<{ clientId: string; status: string; blocked: boolean }>;
    };
    const found = clients.find((c) => c.clientId === id);
    if (found === undefined) throw new Error(`client ${id} is not listed`);
    return found;
  };

  // The page itself: its own scripts only, never framed.
  const page0 = await fetch(`${base}/console/`);
  t.is(page0.status, 200);
  t.regex(
    page0.headers.get('content-security-policy') ?? '',
    /script-src 'self'.*frame-ancestors 'none'/,
  );

  const browser = await launch(t);

  // An admin: the dashboard counts the waiting clients; approve one, block another.
  const admin = await logIn(browser, base, 'ada');
  await admin.getByText('Clients waiting for approval').waitFor();
  t.is(await admin.locator('.card .big').first().textContent(), '3');
  await checkPage(t, admin, 'dashboard');
  await admin.goto(`${base}/console/#/clients?status=pending`);
  await admin.getByRole('button', { name: 'Approve pc-1' }).click();
  await admin.getByRole('status').filter({ hasText: 'Approve: pc-1' }).waitFor();
  t.is((await statusOf(clientIds[0] ?? '')).status, 'approved');
  await admin.getByRole('button', { name: 'Block pc-2' }).click();
  await admin.getByRole('status').filter({ hasText: 'Block: pc-2' }).waitFor();
  t.true((await statusOf(clientIds[1] ?? '')).blocked);
  await checkPage(t, admin, 'clients');

  // Updates: search, open, deploy through the form; the API has the deployment.
  await admin.goto(`${base}/console/#/updates`);
  await admin.getByLabel('Search').fill('Agent 2');
  await admin.getByRole('button', { name: 'Search' }).click();
  await admin.getByRole('link', { name: 'Contoso Agent 2.0' }).click();
  await admin.getByRole('heading', { name: 'Deploy', exact: true }).waitFor();
  await checkPage(t, admin, 'update');
  await admin.getByLabel('Percentage of the group').fill('150');
  await admin.getByRole('button', { name: 'Deploy', exact: true }).click();
  await admin.getByText('A whole number from 1 to 100.').waitFor();
  await admin.getByLabel('Percentage of the group').fill('50');
  await admin.getByLabel('Group', { exact: true }).selectOption('All Computers');
  await admin.getByRole('button', { name: 'Deploy', exact: true }).click();
  await admin.getByRole('status').filter({ hasText: 'Deployed to All Computers' }).waitFor();
  const deployments = (await (await api('GET', '/v1/deployments')).json()) as {
    deployments: Array<{ updateId: string; group: string; percent: number }>;
  };
  t.like(
    deployments.deployments.find((d) => d.updateId === published.updateId),
    { group: 'All Computers', percent: 50 },
  );
  await admin.goto(`${base}/console/#/audit`);
  await admin.getByRole('cell', { name: 'user:ada' }).first().waitFor();
  await checkPage(t, admin, 'audit');

  // A lost session (the cookie gone, as after expiry): the next call brings the login form back.
  await admin.context().clearCookies();
  await admin.goto(`${base}/console/#/groups`);
  await admin.getByText(/Log in to upcat/).waitFor();

  // A viewer sees no change to make, and the API refuses one made with the console's session.
  const viewer = await logIn(browser, base, 'vera');
  await viewer.goto(`${base}/console/#/clients?status=pending`);
  await viewer.getByRole('link', { name: 'pc-3' }).waitFor();
  t.is(await viewer.getByRole('button', { name: /Approve/ }).count(), 0);
  t.is(await viewer.getByRole('link', { name: 'Audit log' }).count(), 0);
  const refused = await viewer.evaluate(async (id) => {
    const session = (await (await fetch('/v1/session')).json()) as { csrfToken: string };
    const res = await fetch(`/v1/clients/${id}/approve`, {
      method: 'POST',
      headers: { 'x-csrf-token': session.csrfToken },
    });
    return res.status;
  }, clientIds[2] ?? '');
  t.is(refused, 403);
  // Nor on the newer pages: no forms to create groups or rollouts, no tokens or users page.
  await viewer.goto(`${base}/console/#/groups`);
  await viewer.getByRole('link', { name: 'All Computers' }).waitFor();
  t.is(await viewer.getByRole('button', { name: 'Create group' }).count(), 0);
  await viewer.goto(`${base}/console/#/rollouts`);
  await viewer.getByRole('heading', { name: 'Rollouts' }).waitFor();
  t.is(await viewer.getByRole('button', { name: 'Start rollout' }).count(), 0);
  await viewer.goto(`${base}/console/#/tokens`);
  await viewer.getByRole('heading', { name: 'Not for your role' }).waitFor();
  t.is(await viewer.getByRole('button', { name: 'Create token' }).count(), 0);
  t.is((await statusOf(clientIds[2] ?? '')).status, 'pending');

  // An operator approves clients.
  const operator = await logIn(browser, base, 'otto');
  await operator.goto(`${base}/console/#/clients?status=pending`);
  await operator.getByRole('button', { name: 'Approve pc-3' }).click();
  await operator.getByRole('status').filter({ hasText: 'Approve: pc-3' }).waitFor();
  t.is((await statusOf(clientIds[2] ?? '')).status, 'approved');
  t.is((await api('POST', '/v1/groups', { name: 'Ring 1' })).status, 201);
  const added = await api('POST', '/v1/groups/Ring%201/members', { clientIds: [clientIds[0]] });
  t.is(added.status, 200, await added.text());
  await operator.goto(`${base}/console/#/groups`);
  await operator.getByRole('cell', { name: 'All Computers' }).waitFor();
  await checkPage(t, operator, 'groups');
  // A group's page lists its members only, and leads to the clients list filtered by it.
  await operator.getByRole('link', { name: 'Ring 1' }).click();
  await operator.getByRole('heading', { name: 'Ring 1' }).waitFor();
  await operator.getByRole('link', { name: 'pc-1' }).waitFor();
  t.is(await operator.getByRole('link', { name: 'pc-2' }).count(), 0);
  await operator.getByRole('link', { name: 'Filter the clients list by Ring 1' }).click();
  await operator.getByRole('heading', { name: 'Clients in Ring 1' }).waitFor();
  await operator.getByRole('link', { name: 'pc-1' }).waitFor();
  t.is(await operator.getByRole('link', { name: 'pc-2' }).count(), 0);
});
