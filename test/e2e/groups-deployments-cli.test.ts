import test, { type ExecutionContext } from 'ava';
import type { Site } from '../../src/app.js';
import { runCli, type CliResult } from '../helpers/cli.js';
import { registration } from '../helpers/clients.js';
import { startServe } from '../helpers/processes.js';
import { fileManifest, publishBytes } from '../helpers/publish.js';
import { dbTestSerial } from '../helpers/site.js';
import { tokenOf } from '../helpers/tokens.js';

const SUBCOMMANDS = [
  ['groups', 'list'],
  ['groups', 'show'],
  ['groups', 'create'],
  ['groups', 'rename'],
  ['groups', 'delete'],
  ['groups', 'add-client'],
  ['groups', 'remove-client'],
  ['deployments', 'list'],
  ['deployments', 'set'],
  ['deployments', 'remove'],
];

test('groups and deployments subcommands have --help, --json and --server', async (t) => {
  for (const args of SUBCOMMANDS) {
    const help = await runCli([...args, '--help'], process.env);
    t.is(help.code, 0, args.join(' '));
    t.regex(help.stdout, new RegExp(`Usage: upcat ${args.join(' ')}`));
    t.regex(help.stdout, /--json/);
    t.regex(help.stdout, /--server <url>/);
  }
});

type Cli = (...args: string[]) => Promise<CliResult>;

/** The same administration, run through `cli` (local or remote); `ring` keeps runs apart. */
async function scenario(t: ExecutionContext, site: Site, cli: Cli, ring: string): Promise<void> {
  const json = async (...args: string[]): Promise<unknown> => {
    const res = await cli(...args, '--json');
    t.is(res.code, 0, `${args.join(' ')}: ${res.stderr}`);
    return JSON.parse(res.stdout) as unknown;
  };
  const fails = async (pattern: RegExp, ...args: string[]): Promise<void> => {
    const res = await cli(...args);
    t.is(res.code, 2, `${args.join(' ')} exits 2`);
    t.regex(res.stderr, pattern);
    t.is(res.stderr.trim().split('\n').length, 1, 'one line on stderr');
  };
  const a = await site.registration.register(
    registration({ hardwareId: `hw-a-${ring}`, name: `${ring}-a` }),
  );
  const b = await site.registration.register(
    registration({ hardwareId: `hw-b-${ring}`, name: `${ring}-b` }),
  );

  t.like(await json('groups', 'create', ring), { name: ring, members: 0 });
  // One client by the start of its ID, the other by its name.
  t.deepEqual(await json('groups', 'add-client', ring, a.clientId.slice(0, 13), `${ring}-B`), {
    group: ring,
    clients: [
      { clientId: a.clientId, added: true },
      { clientId: b.clientId, added: true },
    ],
  });
  await fails(/no client has the ID or name "nobody"/, 'groups', 'add-client', ring, 'nobody');
  const list = (await json('groups', 'list')) as Array<{ name: string; members: number }>;
  t.is(list.find((g) => g.name === ring)?.members, 2);
  const shown = (await json('groups', 'show', ring)) as {
    members: number;
    clients: Array<{ clientId: string }>;
  };
  t.is(shown.members, 2);
  t.deepEqual(shown.clients.map((c) => c.clientId).sort(), [a.clientId, b.clientId].sort());
  const human = await cli('groups', 'show', ring);
  t.regex(human.stdout, new RegExp(`group "${ring}": 2 member\\(s\\), 0 deployment\\(s\\)`));

  const renamed = `${ring}-renamed`;
  t.like(await json('groups', 'rename', ring, renamed), { name: renamed, members: 2 });
  await fails(/builtin/, 'groups', 'rename', 'All Computers', 'x');

  const u = await publishBytes(
    site,
    `p-${ring}`,
    fileManifest(`${ring}.bin`, { product: `P-${ring}` }),
    `${ring}.bin`,
  );
  await site.deployments.approve({ updateId: u.updateId, group: renamed, action: 'install' }, 't');
  const deployments = (await json('deployments', 'list', '--group', renamed)) as Array<{
    id: number;
    updateId: string;
  }>;
  t.is(deployments.length, 1);
  const id = String(deployments[0]?.id);
  t.deepEqual(await json('deployments', 'list', '--group', renamed, '--action', 'optional'), []);
  t.like(await json('deployments', 'set', id, '--deadline', '2031-01-01', '--percentage', '50'), {
    updateId: u.updateId,
    deadline: '2031-01-01T00:00:00.000Z',
    percent: 50,
  });
  t.like(await json('deployments', 'set', id, '--deadline', 'none'), {
    deadline: null,
    percent: 50,
  });
  t.like((await site.deployments.list({ group: renamed }))[0], { percent: 50, deadline: null });
  await fails(
    /^upcat: .*id: must be a deployment ID/,
    'deployments',
    'set',
    'abc',
    '--percent',
    '5',
  );
  await fails(/percentage/, 'deployments', 'set', id, '--percentage', '101');
  await fails(/updateId/, 'deployments', 'list', '--update', 'nope');

  await fails(/still has 1 deployment/, 'groups', 'delete', renamed);
  t.like(await json('deployments', 'remove', id), { updateId: u.updateId, group: renamed });
  await fails(/does not exist/, 'deployments', 'remove', id);

  t.deepEqual(await json('groups', 'remove-client', renamed, `${ring}-a`), {
    group: renamed,
    clientId: a.clientId,
  });
  t.deepEqual(await json('groups', 'delete', renamed), {
    name: renamed,
    removedDeployments: 0,
    removedMembers: 1,
    catalogVersion: null,
  });
  t.false(
    ((await json('groups', 'list')) as Array<{ name: string }>).some((g) => g.name === renamed),
  );
}

dbTestSerial(
  'groups and deployments through the CLI, locally and with --server',
  async (t, { site, env }) => {
    await scenario(t, site, (...args) => runCli(args, env), 'local');

    const token = await tokenOf(site, 'approve');
    const served = await startServe(env);
    try {
      const remoteEnv = { PATH: env['PATH'], HOME: env['HOME'], UPCAT_HOME: '/nonexistent' };
      await scenario(
        t,
        site,
        (...args) => runCli([...args, '--server', served.url, '--token', token], remoteEnv),
        'remote',
      );
      // A read token lists, and is refused a change with the server's one-line reason.
      const reader = await tokenOf(site, 'read');
      const listed = await runCli(
        ['groups', 'list', '--json', '--server', served.url, '--token', reader],
        remoteEnv,
      );
      t.is(listed.code, 0, listed.stderr);
      const refused = await runCli(
        ['groups', 'create', 'x', '--server', served.url, '--token', reader],
        remoteEnv,
      );
      t.not(refused.code, 0);
      t.regex(refused.stderr, /needs approve/);
    } finally {
      await served.stop();
    }
    const actors = new Set(
      (await site.audit.list({})).entries
        .filter((e) => e.action.startsWith('group.') || e.action.startsWith('deployment.'))
        .map((e) => e.actor.split(':')[0]),
    );
    t.deepEqual([...actors].sort(), ['cli', 't', 'token'], 'local and remote changes are audited');
  },
);
