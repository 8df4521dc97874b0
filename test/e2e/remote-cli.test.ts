import type { ChildProcess } from 'node:child_process';
import net, { type AddressInfo } from 'node:net';
import { userInfo } from 'node:os';
import test from 'ava';
import request from 'supertest';
import { createApp } from '../../src/server/app.js';
import { collect, runCli, spawnCli, type CliResult } from '../helpers/cli.js';
import { register, registration } from '../helpers/clients.js';
import { fileManifest, publishBytes } from '../helpers/publish.js';
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

async function serve(env: NodeJS.ProcessEnv): Promise<{ url: string; child: ChildProcess }> {
  const child = spawnCli(['serve', '--port', '0', '--host', '127.0.0.1'], env);
  const url = await new Promise<string>((resolve, reject) => {
    let seen = '';
    child.stderr?.on('data', (d: Buffer) => {
      seen += d.toString();
      const match = /on (http:\/\/[\d.]+:\d+)/.exec(seen);
      if (match?.[1] !== undefined) resolve(match[1]);
    });
    child.once('exit', () => reject(new Error(`server exited early: ${seen}`)));
  });
  return { url, child };
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
  async (t, { site, env }) => {
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
    t.like(admin, { name: 'ops', scope: 'admin' });
    const publisher = JSON.parse(
      ok(
        await runCli(
          ['token', 'create', '--scope', 'publish', '--name', 'ci', '--expires', '90d', '--json'],
          env,
        ),
      ),
    ) as { token: string };
    const listed = ok(await runCli(['token', 'list'], env));
    t.regex(listed, /ops\s+admin\s+active/);
    t.regex(listed, /ci\s+publish\s+active/);
    t.false(listed.includes(admin.token.split('.')[1] ?? '-'), 'never the secret');

    const { url, child } = await serve(env);
    const done = collect(child);
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
      const audit = JSON.parse(ok(await remote(['audit', '--since', '1h', '--json']))) as Array<{
        actor: string;
        action: string;
        source: string | null;
      }>;
      const line = (action: string) => audit.find((e) => e.action === action);
      t.like(line('token.create'), { actor: `cli:${userInfo().username}`, source: 'cli' });
      t.like(line('keys.rotate'), {
        actor: `cli:${userInfo().username}`,
        source: 'cli',
        target: 'timestamp',
      });
      t.like(line('deployment.approve'), { actor: 'token:ops', source: '127.0.0.1' });
      t.like(line('deployment.promote'), { actor: 'token:ops', source: '127.0.0.1' });
      t.like(line('expire'), { actor: 'token:ci', source: '127.0.0.1' });
      const table = ok(await remote(['audit']));
      t.regex(table, /^AT\s+ACTOR\s+ACTION\s+TARGET\s+SOURCE/);
      t.regex(table, /token:ops\s+deployment\.promote/);

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
      const badPort = await runCli(['audit', '--server', 'http://127.0.0.1:1'], remoteEnv('x'));
      t.regex(badPort.stderr, /^upcat: cannot reach http:\/\/127\.0\.0\.1:1: bad port\n$/);
    } finally {
      child.kill('SIGTERM');
      await done;
    }
  },
);

test('the new commands have --help and --json; the remote-capable ones take --server and --token', async (t) => {
  const commands: Array<[string[], boolean]> = [
    [['token', 'create'], false],
    [['token', 'list'], false],
    [['token', 'revoke'], false],
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
