import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import type { Site } from '../../src/app.js';
import type { RolloutView } from '../../src/site/rollouts-model.js';
import { runCli, type CliResult } from '../helpers/cli.js';
import { registration } from '../helpers/clients.js';
import { startServe } from '../helpers/processes.js';
import { fileManifest, publishBytes } from '../helpers/publish.js';
import { dbTestSerial } from '../helpers/site.js';
import { tokenOf } from '../helpers/tokens.js';

const SUBCOMMANDS = [
  ['rollouts', 'create'],
  ['rollouts', 'list'],
  ['rollouts', 'show'],
  ['rollouts', 'pause'],
  ['rollouts', 'resume'],
  ['rollouts', 'stop'],
  ['groups', 'window', 'set'],
  ['groups', 'window', 'clear'],
  ['groups', 'window', 'show'],
];

test('rollouts and window subcommands have --help, --json and --server', async (t) => {
  for (const args of SUBCOMMANDS) {
    const help = await runCli([...args, '--help'], process.env);
    t.is(help.code, 0, args.join(' '));
    t.regex(help.stdout, new RegExp(`Usage: upcat ${args.join(' ')}`));
    t.regex(help.stdout, /--json/);
    t.regex(help.stdout, /--server <url>/);
  }
  const advance = await runCli(['rollouts', 'advance', '--help'], process.env);
  t.regex(advance.stdout, /--json/);
});

type Cli = (...args: string[]) => Promise<CliResult>;

/** Groups `<tag>-1` and `<tag>-2`, one approved client in the first, and an update. */
async function setUp(site: Site, tag: string): Promise<{ updateId: string; clientId: string }> {
  site.config.site.approval = 'auto-all';
  await site.groups.create(`${tag}-1`, 'test');
  await site.groups.create(`${tag}-2`, 'test');
  const client = await site.registration.register(
    registration({ hardwareId: `hw-${tag}`, name: `pc-${tag}`, group: `${tag}-1` }),
  );
  const u = await publishBytes(
    site,
    `p-${tag}`,
    fileManifest(`${tag}.bin`, { product: `P-${tag}`, title: `P ${tag}` }),
    `${tag}.bin`,
  );
  return { updateId: u.updateId, clientId: client.clientId };
}

async function installedOn(site: Site, clientId: string, updateId: string): Promise<void> {
  await site.status.fromClient(clientId, {
    messages: [
      {
        id: `m-${clientId}`,
        topic: 'update',
        updateId,
        revision: 1,
        state: 'installed',
        time: new Date().toISOString(),
      },
    ],
  });
}

/** The administration of one rollout through `cli` (local or remote). */
async function scenario(
  t: ExecutionContext,
  cli: Cli,
  tag: string,
  updateId: string,
): Promise<RolloutView> {
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

  await fails(
    /percent=abc is not a number/,
    'rollouts',
    'create',
    updateId,
    '--ring',
    `${tag}-1:percent=abc`,
  );
  await fails(
    /"speed" is not a ring setting/,
    'rollouts',
    'create',
    updateId,
    '--ring',
    `${tag}-1:speed=1`,
  );
  await fails(
    /rings\[1\]\.group: "nope" does not exist/,
    'rollouts',
    'create',
    updateId,
    '--ring',
    `${tag}-1`,
    '--ring',
    'nope',
  );
  await fails(/wait/, 'rollouts', 'create', updateId, '--ring', `${tag}-1:wait=soon`);
  await fails(/--ring: give at least one ring/, 'rollouts', 'create', updateId);

  const r = (await json(
    'rollouts',
    'create',
    updateId,
    '--name',
    `${tag} rollout`,
    '--deadline',
    '3d',
    '--ring',
    `${tag}-1:percent=100,minSuccess=90,minReporting=1,wait=0`,
    '--ring',
    `${tag}-2`,
  )) as RolloutView;
  t.like(r, { name: `${tag} rollout`, status: 'running', currentRing: 0, deadline: '3d' });
  t.like(r.rings[0], {
    group: `${tag}-1`,
    minSuccess: 90,
    minReporting: 1,
    wait: '0',
    state: 'active',
  });
  t.like(r.rings[1], {
    group: `${tag}-2`,
    percent: 100,
    minSuccess: 95,
    wait: '1h',
    state: 'pending',
  });
  const id = String(r.id);

  const list = (await json('rollouts', 'list', '--status', 'running')) as RolloutView[];
  t.true(list.some((x) => x.id === r.id));
  const human = await cli('rollouts', 'show', id);
  t.regex(human.stdout, new RegExp(`rollout ${id} "${tag} rollout": running`));
  t.regex(human.stdout, /ring-start/);
  t.like(await json('rollouts', 'pause', id), { status: 'paused' });
  await fails(/only a running one can pause/, 'rollouts', 'pause', id);
  t.like(await json('rollouts', 'resume', id), { status: 'running' });
  await fails(/id: "x" is not a rollout ID/, 'rollouts', 'show', 'x');

  // Windows: set (days as a range), show, clear.
  await fails(
    /windows\[0\]\.start/,
    'groups',
    'window',
    'set',
    `${tag}-1`,
    '--window',
    'mon 25:00 1h',
  );
  await fails(
    /DAYS START DURATION/,
    'groups',
    'window',
    'set',
    `${tag}-1`,
    '--window',
    'mon 22:00',
  );
  t.like(
    await json(
      'groups',
      'window',
      'set',
      `${tag}-2`,
      '--window',
      'fri-mon 22:00 4h',
      '--timezone',
      '+02:00',
    ),
    {
      group: `${tag}-2`,
      timezone: '+02:00',
      windows: [{ days: ['fri', 'sat', 'sun', 'mon'], start: '22:00', duration: '4h' }],
    },
  );
  t.like(await json('groups', 'show', `${tag}-2`), {
    name: `${tag}-2`,
    maintenanceWindow: { timezone: '+02:00' },
  });
  t.regex(
    (await cli('groups', 'show', `${tag}-2`)).stdout,
    /maintenance windows \(\+02:00\): fri,sat,sun,mon 22:00 4h/,
  );
  const shown = (await json('groups', 'window', 'show', `${tag}-2`)) as {
    maintenanceWindow: { windows: unknown[] } | null;
  };
  t.is(shown.maintenanceWindow?.windows.length, 1);
  t.regex((await cli('groups', 'window', 'show', `${tag}-2`)).stdout, /fri,sat,sun,mon +22:00 +4h/);
  t.deepEqual(await json('groups', 'window', 'clear', `${tag}-2`), {
    group: `${tag}-2`,
    cleared: true,
  });
  t.deepEqual(await json('groups', 'window', 'clear', `${tag}-2`), {
    group: `${tag}-2`,
    cleared: false,
  });
  return r;
}

dbTestSerial(
  'rollouts and maintenance windows through the CLI, locally and with --server; serve advances',
  async (t, { site, env, home }) => {
    const local = await setUp(site, 'loc');
    const cli: Cli = (...args) => runCli(args, env);
    const r = await scenario(t, cli, 'loc', local.updateId);

    // `rollouts advance`: one pass; the ring waits for a reporting client, then hands over.
    const held = await cli('rollouts', 'advance', '--json');
    t.is(held.code, 0, held.stderr);
    t.regex(JSON.parse(held.stdout).held[0].reason as string, /0 client\(s\) reporting, needs 1/);
    await installedOn(site, local.clientId, local.updateId);
    const second = await cli('rollouts', 'advance', '--json');
    t.is(second.code, 0, second.stderr);
    const moved = JSON.parse(second.stdout) as { advanced: unknown[] };
    t.deepEqual(moved.advanced, [{ id: r.id, ring: 1, done: false }]);
    t.like(await site.rollouts.show(r.id), { currentRing: 1, status: 'running' });
    t.like(JSON.parse((await cli('rollouts', 'stop', String(r.id), '--json')).stdout), {
      status: 'stopped',
    });

    // `upcat serve` advances on its own timer (a second here).
    await writeFile(
      path.join(home, 'upcat.config.json'),
      JSON.stringify({ rollouts: { checkIntervalSeconds: 1 } }),
    );
    const token = await tokenOf(site, 'approve');
    const served = await startServe(env);
    try {
      const remoteEnv = { PATH: env['PATH'], HOME: env['HOME'], UPCAT_HOME: '/nonexistent' };
      const remote = await setUp(site, 'rem');
      const rr = await scenario(
        t,
        (...args) => runCli([...args, '--server', served.url, '--token', token], remoteEnv),
        'rem',
        remote.updateId,
      );
      await installedOn(site, remote.clientId, remote.updateId);
      let view = await site.rollouts.show(rr.id);
      for (let i = 0; i < 300 && view.currentRing === 0; i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        view = await site.rollouts.show(rr.id);
      }
      t.is(view.currentRing, 1, 'the server advanced the rollout');
      t.is(view.history.find((h) => h.step === 'advance')?.by, 'rollout engine');

      const reader = await tokenOf(site, 'read');
      const refused = await runCli(
        ['rollouts', 'pause', String(rr.id), '--server', served.url, '--token', reader],
        remoteEnv,
      );
      t.not(refused.code, 0);
      t.regex(refused.stderr, /needs approve/);
    } finally {
      await served.stop();
    }
    const actors = new Set(
      (await site.audit.list({})).entries
        .filter((e) => e.action.startsWith('rollout.'))
        .map((e) => e.actor.split(':')[0]),
    );
    t.deepEqual([...actors].sort(), ['cli', 'rollout engine', 'token'].sort());
  },
);
