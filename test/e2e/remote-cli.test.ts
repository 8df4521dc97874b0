import { writeFile } from 'node:fs/promises';
import net, { type AddressInfo } from 'node:net';
import { userInfo } from 'node:os';
import path from 'node:path';
import test from 'ava';
import request from 'supertest';
import { createApp } from '../../src/server/app.js';
import type { AuditEntry } from '../../src/site/audit.js';
import { runCli, type CliResult } from '../helpers/cli.js';
import { register, registration } from '../helpers/clients.js';
import { fileManifest, publishBytes } from '../helpers/publish.js';
import { serveCli } from '../helpers/served-cli.js';
import { dbTestSerial } from '../helpers/site.js';

/** An environment without a site home: a remote command must not need one. */
function remoteEnv(token?: string): NodeJS.ProcessEnv {
  return {
    PATH: process.env['PATH'],
    HOME: process.env['HOME'],
    USER: 'bob',
    UPCAT_HOME: '/nonexistent',
    ...(token === undefined ? {} : { UPCAT_TOKEN: token }),
  };
}

/** A loopback port that nothing listens on. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const ok = (r: CliResult): string => {
  if (r.code !== 0) throw new Error(`exit ${r.code}: ${r.stderr}`);
  return r.stdout;
};

dbTestSerial(
  'approve, report, promote, expire and audit run against a server with --server and a token',
  async (t, { site, env, home }) => {
    site.config.site.approval = 'auto-all';
    const app = createApp(site);
    await site.groups.create('ring1', 'test');
    await site.groups.create('ring2', 'test');
    const clients = [];
    for (let i = 0; i < 2; i += 1)
      clients.push(
        (await register(app, registration({ hardwareId: `hw-${i}`, group: 'ring1' }))).body,
      );
    const a = await publishBytes(site, 'a1', fileManifest('a.bin'), 'a.bin');

    // Tokens are made locally, on the site's own machine (actor cli:<user>, source cli).
    const admin = JSON.parse(
      ok(await runCli(['token', 'create', '--scope', 'admin', '--name', 'ops', '--json'], env)),
    ) as { id: string; name: string; scope: string; token: string };
    // Exactly the contract: {"id","name","scope","token"} (the expiry is in `token list`).
    t.deepEqual(Object.keys(admin), ['id', 'name', 'scope', 'token']);
    t.like(admin, { name: 'ops', scope: 'admin' });
    t.regex(admin.token, new RegExp(`^upcat_${admin.id}\\.`));
    const publisher = JSON.parse(
      ok(
        await runCli(
          ['token', 'create', '--scope', 'publish', '--name', 'ci', '--expires', '90d', '--json'],
          env,
        ),
      ),
    ) as { id: string; token: string };
    t.deepEqual(Object.keys(publisher), ['id', 'name', 'scope', 'token']);
    const expiry = (
      JSON.parse(ok(await runCli(['token', 'list', '--json'], env))) as Array<{
        id: string;
        expiresAt: string | null;
      }>
    ).find((x) => x.id === publisher.id)?.expiresAt;
    const days = (Date.parse(expiry ?? '') - Date.now()) / 86_400_000;
    t.true(days > 89.9 && days <= 90, `expiry shown by token list: ${expiry}`);
    const listed = ok(await runCli(['token', 'list'], env));
    t.regex(listed, /ops\s+admin\s+active/);
    t.regex(listed, /ci\s+publish\s+active/);
    t.false(listed.includes(admin.token.split('.')[1] ?? '-'), 'never the secret');

    const { url, stop } = await serveCli(env);
    try {
      const remote = (args: string[], token = admin.token) =>
        runCli([...args, '--server', url], remoteEnv(token));

      const approved = ok(
        await remote(['approve', a.updateId, '--group', 'ring1', '--action', 'install']),
      );
      t.regex(
        approved,
        new RegExp(`^approved ${a.updateId} for install to "ring1" \\(catalog version \\d+\\)\\n$`),
      );

      for (const [i, c] of clients.entries())
        await request(app)
          .post('/v1/status')
          .set('Authorization', `Bearer ${c.secret}`)
          .send({
            messages: [
              {
                id: `m${i}`,
                topic: 'update',
                updateId: a.updateId,
                revision: 1,
                state: 'installed',
              },
            ],
          })
          .expect(202);

      const revisions = JSON.parse(ok(await remote(['report', 'revisions', '--json']))) as Array<{
        updateId: string;
        installed: number;
      }>;
      t.like(revisions[0], { updateId: a.updateId, installed: 2 });
      // The same table as the local command prints.
      t.is(
        ok(await remote(['report', 'revisions'])),
        ok(await runCli(['report', 'revisions'], env)),
      );
      ok(await remote(['report', 'stale', '--days', '3']));
      ok(await remote(['report', 'client', clients[0]?.clientId ?? '']));

      const refused = await remote(['promote', a.updateId, '--from', 'ring2', '--to', 'ring1']);
      t.is(refused.code, 2);
      t.regex(
        refused.stderr,
        /^upcat: http:\/\/127\.0\.0\.1:\d+: from: update .* is not deployed to "ring2"\n$/,
      );

      const promoted = ok(
        await remote([
          'promote',
          a.updateId,
          '--from',
          'ring1',
          '--to',
          'ring2',
          '--min-success',
          '95',
        ]),
      );
      t.regex(
        promoted,
        /^promoted .* from "ring1" to "ring2" for install: 100\.0% installed \(2 of 2 reporting\)/,
      );

      // approve does not imply publish: an approve token cannot expire.
      const approver = JSON.parse(
        ok(await runCli(['token', 'create', '--scope', 'approve', '--json'], env)),
      ) as { token: string };
      const forbidden = await remote(['expire', a.updateId], approver.token);
      t.is(forbidden.code, 2);
      t.regex(forbidden.stderr, /has scope approve; this route needs publish/);
      // --token on the command line instead of UPCAT_TOKEN.
      const expired = await runCli(
        ['expire', a.updateId, '--server', url, '--token', publisher.token],
        remoteEnv(),
      );
      t.regex(ok(expired), new RegExp(`^expired update ${a.updateId} \\(catalog version \\d+\\)`));

      ok(await runCli(['keys', 'rotate', 'timestamp'], env));
      // Local publish and groups act as the same cli:<user> as every local command (the
      // environment has no USER: the name comes from the OS, not "local").
      await writeFile(path.join(home, 'b.bin'), 'b1');
      await writeFile(
        path.join(home, 'b.json'),
        JSON.stringify(fileManifest('b.bin', { product: 'Contoso Other' })),
      );
      ok(
        await runCli(
          ['publish', path.join(home, 'b.bin'), '--manifest', path.join(home, 'b.json')],
          env,
        ),
      );
      ok(await runCli(['groups', 'create', 'ring3'], env));
      const page = JSON.parse(ok(await remote(['audit', '--since', '1h', '--json']))) as {
        entries: AuditEntry[];
        truncated: boolean;
        next: { before: number } | null;
      };
      t.like(page, { truncated: false, next: null });
      const audit = page.entries;
      const line = (action: string) => audit.find((e) => e.action === action);
      const me = `cli:${userInfo().username}`;
      const local = audit.filter((e) => e.source === 'cli');
      t.deepEqual(
        local.map((e) => [e.action, e.actor, e.tokenId]),
        [
          ['token.create', me, null],
          ['token.create', me, null],
          ['token.create', me, null],
          ['keys.rotate', me, null],
          ['publish', me, null],
          ['group.create', me, null],
        ],
      );
      t.like(line('keys.rotate'), { target: 'timestamp' });
      // Remote changes name the token readably and unambiguously.
      t.like(line('deployment.approve'), {
        actor: 'token:ops',
        tokenId: admin.id,
        source: '127.0.0.1',
      });
      t.like(line('deployment.promote'), { actor: 'token:ops', tokenId: admin.id });
      t.like(line('expire'), { actor: 'token:ci', tokenId: publisher.id, source: '127.0.0.1' });
      const table = ok(await remote(['audit']));
      t.regex(table, /^AT\s+ACTOR\s+TOKEN\s+ACTION\s+TARGET\s+SOURCE/);
      t.regex(table, new RegExp(`token:ops\\s+${admin.id}\\s+deployment\\.promote`));

      // A page that stops at --limit says so, and says how to get the rest.
      for (const run of [remote, (args: string[]) => runCli(args, env)]) {
        const all = (JSON.parse(ok(await run(['audit', '--json']))) as typeof page).entries;
        const cut = await run(['audit', '--limit', '2']);
        t.is(cut.code, 0);
        t.is(cut.stdout.trimEnd().split('\n').length, 3, 'a header and two rows');
        const older = all[all.length - 2]?.id ?? 0;
        t.is(
          cut.stderr,
          `upcat: truncated: only the newest 2 entries are shown; older ones match too (--before ${older}, or --limit up to 10000)\n`,
        );
        const first = JSON.parse(ok(await run(['audit', '--limit', '2', '--json']))) as typeof page;
        t.deepEqual(
          first.entries.map((e) => e.id),
          all.slice(-2).map((e) => e.id),
        );
        t.like(first, { truncated: true, next: { before: older } });
        const second = JSON.parse(
          ok(await run(['audit', '--limit', '2', '--before', String(older), '--json'])),
        ) as typeof page;
        t.deepEqual(
          second.entries.map((e) => e.id),
          all.slice(-4, -2).map((e) => e.id),
        );
        const whole = JSON.parse(
          ok(await run(['audit', '--limit', String(all.length), '--json'])),
        ) as typeof page;
        t.like(whole, { truncated: false, next: null });
        t.is((await run(['audit', '--limit', String(all.length)])).stderr, '');
        const badBefore = await run(['audit', '--before', 'x']);
        t.is(badBefore.code, 2);
        t.is(badBefore.stderr, 'upcat: --before: "x" is not a whole number\n');
      }

      // Refusals: no token; a revoked token.
      const noToken = await runCli(['audit', '--server', url], remoteEnv());
      t.is(noToken.code, 2);
      t.is(noToken.stderr, 'upcat: --server needs a token: --token T or UPCAT_TOKEN\n');
      ok(await runCli(['token', 'revoke', 'ops'], env));
      const revoked = await remote(['audit']);
      t.is(revoked.code, 2);
      t.regex(revoked.stderr, /^upcat: http:\/\/.*: token: unknown, expired or revoked\n$/);
      const closed = await closedPort();
      const unreachable = await runCli(
        ['audit', '--server', `http://127.0.0.1:${closed}`],
        remoteEnv('x'),
      );
      t.is(unreachable.code, 1);
      t.is(unreachable.stderr, `upcat: cannot reach http://127.0.0.1:${closed}: ECONNREFUSED\n`);
      // Port 1 (tcpmux): nothing listens there; the CLI's client refuses no port of its own.
      const lowPort = await runCli(['audit', '--server', 'http://127.0.0.1:1'], remoteEnv('x'));
      t.is(lowPort.code, 1);
      t.is(lowPort.stderr, 'upcat: cannot reach http://127.0.0.1:1: ECONNREFUSED\n');
    } finally {
      await stop();
    }
  },
);

test('the new commands have --help and --json; the remote-capable ones take --server and --token', async (t) => {
  const commands: Array<[string[], boolean]> = [
    [['token', 'create'], true],
    [['token', 'list'], true],
    [['token', 'revoke'], true],
    [['clients', 'list'], true],
    [['clients', 'show'], true],
    [['clients', 'conflicts'], true],
    [['clients', 'approve'], true],
    [['clients', 'block'], true],
    [['clients', 'unblock'], true],
    [['clients', 'resolve'], true],
    [['promote'], true],
    [['audit'], true],
    [['approve'], true],
    [['expire'], true],
    [['report', 'revisions'], true],
    [['report', 'client'], true],
    [['report', 'stale'], true],
    [['report', 'client-install-failures'], true],
  ];
  for (const [args, remote] of commands) {
    const help = await runCli([...args, '--help'], process.env);
    t.is(help.code, 0, args.join(' '));
    t.regex(help.stdout, new RegExp(`Usage: upcat ${args.join(' ')}`));
    t.regex(help.stdout, /--json/);
    t.is(/--server <url>/.test(help.stdout) && /--token <token>/.test(help.stdout), remote);
  }
});
