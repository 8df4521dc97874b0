import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import request from 'supertest';
import { createApp } from '../../src/server/app.js';
import { runCli, type CliResult } from '../helpers/cli.js';
import { register, registration } from '../helpers/clients.js';
import { dbTestSerial } from '../helpers/site.js';
import { tokenOf } from '../helpers/tokens.js';

const ok = (r: CliResult): string => {
  if (r.code !== 0) throw new Error(`exit ${r.code}: ${r.stderr}`);
  return r.stdout;
};

/** An environment without a site home: a remote command must not need one. */
const remoteEnv: NodeJS.ProcessEnv = {
  PATH: process.env['PATH'],
  HOME: process.env['HOME'],
  UPCAT_HOME: '/nonexistent',
};

dbTestSerial(
  'clients, token and report --csv: the same answers locally and with --server',
  async (t, { site, env }) => {
    const app = createApp(site);
    const ids: string[] = [];
    for (const name of ['pc-a', 'pc-b', 'pc-c'])
      ids.push(
        (await register(app, registration({ hardwareId: `hw-${name}`, name }))).body.clientId,
      );
    const server: Server = await new Promise((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const admin = await tokenOf(site, 'admin');
    const remote = (args: string[], token = admin): Promise<CliResult> =>
      runCli([...args, '--server', url, '--token', token], remoteEnv);
    const local = (args: string[]): Promise<CliResult> => runCli(args, env);
    const names = (out: string): string[] =>
      (JSON.parse(out) as Array<{ name: string }>).map((c) => c.name).sort();

    // Lists: the same filters and answers on both paths.
    t.deepEqual(names(ok(await local(['clients', 'list', '--status', 'pending', '--json']))), [
      'pc-a',
      'pc-b',
      'pc-c',
    ]);
    const approved = JSON.parse(ok(await remote(['clients', 'approve', 'PC-A', '--json'])));
    t.like(approved, { clientId: ids[0], status: 'approved' });
    for (const run of [local, remote])
      t.deepEqual(names(ok(await run(['clients', 'list', '--status', 'pending', '--json']))), [
        'pc-b',
        'pc-c',
      ]);
    t.deepEqual(names(ok(await remote(['clients', 'list', '--search', 'PC-', '--json']))), [
      'pc-a',
      'pc-b',
      'pc-c',
    ]);

    // One page at a time: the cursor printed on stderr leads to the next page.
    const first = await remote(['clients', 'list', '--limit', '2', '--json']);
    t.is((JSON.parse(ok(first)) as unknown[]).length, 2);
    const cursor = /--cursor (\S+)/.exec(first.stderr)?.[1] ?? '';
    t.truthy(cursor);
    const rest = await remote(['clients', 'list', '--limit', '2', '--cursor', cursor, '--json']);
    t.is((JSON.parse(ok(rest)) as unknown[]).length, 1);
    t.is(rest.stderr, '');

    // Show by unique ID prefix: the same detail either way.
    const prefix = (ids[1] ?? '').slice(0, 8);
    const shownLocal = JSON.parse(ok(await local(['clients', 'show', prefix, '--json'])));
    const shownRemote = JSON.parse(ok(await remote(['clients', 'show', prefix, '--json'])));
    t.deepEqual(shownRemote, shownLocal);
    t.is(shownLocal.client.name, 'pc-b');
    t.regex(ok(await remote(['clients', 'show', 'pc-b'])), /name {10}pc-b/);

    // Bad input: one line on stderr, non-zero exit, on both paths.
    for (const run of [local, remote]) {
      const bad = await run(['clients', 'list', '--status', 'sleeping']);
      t.not(bad.code, 0);
      t.regex(bad.stderr, /status: must be approved, pending, conflict or obsolete/);
      t.is(bad.stderr.trim().split('\n').length, 1);
    }

    // Tokens over HTTP: created remotely, listed without secrets, revoked.
    const made = JSON.parse(
      ok(await remote(['token', 'create', '--scope', 'read', '--name', 'viewer', '--json'])),
    ) as { id: string; token: string };
    t.regex(made.token, /^upcat_/);
    const listed = ok(await remote(['token', 'list', '--json']));
    t.false(listed.includes(made.token.split('.')[1] ?? '-'));
    t.true((JSON.parse(listed) as Array<{ name: string }>).some((x) => x.name === 'viewer'));
    const refused = await remote(['token', 'list'], made.token);
    t.not(refused.code, 0);
    t.regex(refused.stderr, /needs admin/);
    t.like(JSON.parse(ok(await remote(['token', 'revoke', 'viewer', '--json']))), {
      id: made.id,
      state: 'revoked',
    });
    const after = JSON.parse(ok(await local(['token', 'list', '--json']))) as Array<{
      id: string;
      state: string;
    }>;
    t.is(after.find((x) => x.id === made.id)?.state, 'revoked');

    // Reports as CSV: the CLI, locally and remotely, prints what the server answers.
    await site
      .db('clients')
      .where({ client_id: ids[2] })
      .update({ name: '=cmd|"/c calc"', last_contact: null });
    const http = await request(app)
      .get('/v1/reports/stale?format=csv&days=1')
      .set('Authorization', `Bearer ${admin}`);
    t.is(http.status, 200);
    t.true(http.text.includes(`'=cmd|""/c calc""`));
    t.is(ok(await local(['report', 'stale', '--days', '1', '--csv'])), http.text);
    t.is(ok(await remote(['report', 'stale', '--days', '1', '--csv'])), http.text);
    const both = await local(['report', 'revisions', '--csv', '--json']);
    t.not(both.code, 0);
    t.regex(both.stderr, /--csv and --json/);
  },
);
