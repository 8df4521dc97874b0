import { spawn } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createApp } from '../../src/server/app.js';
import { collect, type CliResult } from '../helpers/cli.js';
import { dbTestSerial } from '../helpers/site.js';
import { tokenOf } from '../helpers/tokens.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** The CLI from source (no build needed), with `stdin` piped in as a pipeline would. */
function upcat(args: string[], env: NodeJS.ProcessEnv, stdin = ''): Promise<CliResult> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/run.ts', ...args], {
    cwd: ROOT,
    env: { ...env, USER: 'root' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  child.stdin.end(stdin);
  return collect(child);
}

const ok = (r: CliResult): string => {
  if (r.code !== 0) throw new Error(`exit ${r.code}: ${r.stderr}`);
  return r.stdout;
};

dbTestSerial(
  'upcat users: add, list, passwd, remove on the local site',
  async (t, { site, env }) => {
    t.regex(
      ok(await upcat(['users', 'add', 'Alice', '--role', 'admin'], env, 'correct horse battery\n')),
      /added user "alice" \(admin\)/,
    );
    ok(
      await upcat(
        ['users', 'add', 'bob', '--role', 'viewer', '--password-stdin'],
        env,
        'another long password\r\n',
      ),
    );
    const list = JSON.parse(ok(await upcat(['users', 'list', '--json'], env))) as Array<{
      name: string;
      role: string;
    }>;
    t.deepEqual(
      list.map((u) => [u.name, u.role]),
      [
        ['alice', 'admin'],
        ['bob', 'viewer'],
      ],
    );
    t.regex(ok(await upcat(['users', 'list'], env)), /NAME\s+ROLE[\s\S]*alice\s+admin/);
    t.truthy(
      await site.users.check('alice', 'correct horse battery'),
      'the line ending is not part of it',
    );
    t.truthy(await site.users.check('bob', 'another long password'));

    ok(await upcat(['users', 'passwd', 'alice'], env, 'a brand new password\n'));
    t.truthy(await site.users.check('alice', 'a brand new password'));
    t.regex(ok(await upcat(['users', 'role', 'bob', 'operator'], env)), /"bob" is now operator/);
    const last = await upcat(['users', 'remove', 'alice'], env);
    t.not(last.code, 0);
    t.regex(last.stderr, /"alice" is the last admin account/);
    t.regex(ok(await upcat(['users', 'remove', 'bob', '--json'], env)), /"name":"bob"/);
    t.is(await site.users.check('bob', 'another long password'), undefined);

    const audit = (await site.db('audit_log').orderBy('id')) as Array<{
      actor: string;
      action: string;
      source: string;
    }>;
    t.deepEqual(
      audit.map((r) => [r.actor, r.action, r.source]),
      [
        ['cli:root', 'user.add', 'cli'],
        ['cli:root', 'user.add', 'cli'],
        ['cli:root', 'user.passwd', 'cli'],
        ['cli:root', 'user.role', 'cli'],
        ['cli:root', 'user.remove', 'cli'],
      ],
    );
  },
);

dbTestSerial(
  'upcat users: bad input is one line on stderr and a non-zero exit',
  async (t, { env }) => {
    for (const [args, stdin, why] of [
      [['users', 'add', 'carol', '--role', 'root'], 'correct horse battery\n', /role/],
      [['users', 'add', 'carol', '--role', 'admin'], 'short\n', /password: must be at least 10/],
      [['users', 'add', 'carol', '--role', 'admin'], '', /password: standard input is empty/],
      [['users', 'add', 'a b', '--role', 'admin'], 'correct horse battery\n', /name/],
      [['users', 'remove', 'nobody'], '', /no user "nobody"/],
      [['users', 'role', 'nobody', 'admin'], '', /no user "nobody"/],
      [['users', 'role', 'alice', 'root'], '', /role: must be one of admin, operator, viewer/],
      // A password is never an argument (it would show in `ps`).
      [['users', 'add', 'carol', '--role', 'admin', '--password', 'x'], '', /unknown option/],
    ] as const) {
      const r = await upcat([...args], env, stdin);
      t.not(r.code, 0, args.join(' '));
      t.regex(r.stderr, why, args.join(' '));
      t.is(
        r.stderr
          .trim()
          .split('\n')
          .filter((l) => !l.startsWith('(run with')).length,
        1,
        r.stderr,
      );
    }
    for (const sub of ['add', 'list', 'remove', 'role', 'passwd'])
      t.regex(ok(await upcat(['users', sub, '--help'], env)), /--server/);
  },
);

dbTestSerial(
  'upcat users --server: the same commands over HTTP with an admin token',
  async (t, { site }) => {
    const server = http.createServer(createApp(site));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const env = {
        PATH: process.env['PATH'],
        HOME: process.env['HOME'],
        UPCAT_HOME: '/nonexistent',
      };
      const admin = { ...env, UPCAT_TOKEN: await tokenOf(site, 'admin', 'ops') };
      const remote = (args: string[], e: NodeJS.ProcessEnv, stdin = '') =>
        upcat([...args, '--server', url], e, stdin);
      ok(
        await remote(
          ['users', 'add', 'carol', '--role', 'operator', '--password-stdin'],
          admin,
          'correct horse battery\n',
        ),
      );
      ok(
        await remote(
          ['users', 'add', 'dave', '--role', 'viewer'],
          admin,
          'correct horse battery\n',
        ),
      );
      const list = JSON.parse(ok(await remote(['users', 'list', '--json'], admin))) as Array<{
        name: string;
      }>;
      t.deepEqual(
        list.map((u) => u.name),
        ['carol', 'dave'],
      );
      ok(await remote(['users', 'passwd', 'carol'], admin, 'a brand new password\n'));
      t.truthy(await site.users.check('carol', 'a brand new password'));
      t.regex(
        ok(await remote(['users', 'role', 'carol', 'viewer'], admin)),
        /"carol" is now viewer/,
      );
      t.like(
        (await site.users.list()).find((u) => u.name === 'carol'),
        { role: 'viewer' },
      );
      ok(await remote(['users', 'remove', 'dave'], admin));
      t.deepEqual(
        (await site.users.list()).map((u) => u.name),
        ['carol'],
      );

      const approver = { ...env, UPCAT_TOKEN: await tokenOf(site, 'approve') };
      const refused = await remote(['users', 'list'], approver);
      t.not(refused.code, 0);
      t.regex(refused.stderr, /scope approve; this route needs admin/);

      const actors = (await site
        .db('audit_log')
        .where('action', 'like', 'user.%')
        .orderBy('id')) as Array<{ actor: string }>;
      t.deepEqual([...new Set(actors.map((r) => r.actor))], ['token:ops']);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  },
);
