import test from 'ava';
import { runCli } from '../helpers/cli.js';
import { registration } from '../helpers/clients.js';
import { fileManifest, publishBytes } from '../helpers/publish.js';
import { dbTestSerial } from '../helpers/site.js';

const COMMANDS = [
  ['clients', 'list'],
  ['clients', 'approve'],
  ['clients', 'block'],
  ['clients', 'unblock'],
  ['clients', 'conflicts'],
  ['clients', 'resolve'],
  ['groups', 'create'],
  ['groups', 'list'],
  ['groups', 'add-client'],
  ['approve'],
  ['report', 'revisions'],
  ['report', 'client'],
  ['report', 'stale'],
  ['report', 'client-install-failures'],
];

test('every site command has --help and --json', async (t) => {
  for (const args of COMMANDS) {
    const help = await runCli([...args, '--help'], process.env);
    t.is(help.code, 0, args.join(' '));
    t.regex(help.stdout, new RegExp(`Usage: upcat ${args.join(' ')}`));
    t.regex(help.stdout, /--json/);
  }
});

dbTestSerial('clients, groups, approve and report through the CLI', async (t, { site, env }) => {
  const cli = async (...args: string[]): Promise<unknown> => {
    const res = await runCli([...args, '--json'], env);
    t.is(res.code, 0, `${args.join(' ')}: ${res.stderr}`);
    return JSON.parse(res.stdout) as unknown;
  };
  const a = await site.registration.register(registration());
  const b = await site.registration.register(registration({ hardwareId: 'hw-2', name: 'pc-2' }));
  t.is(a.status, 'pending');

  const list = (await cli('clients', 'list')) as Array<Record<string, unknown>>;
  t.is(list.length, 2);
  t.like(list[0], {
    clientId: a.clientId,
    hardwareId: 'hw-0001',
    status: 'pending',
    blocked: false,
    groups: [],
  });

  t.like(await cli('clients', 'approve', a.clientId), { status: 'approved' });
  t.like(await cli('clients', 'block', b.clientId), { blocked: true });
  t.like(await cli('clients', 'unblock', b.clientId), { blocked: false });
  t.like(await cli('groups', 'create', 'Ring 1'), { name: 'Ring 1' });
  await cli('groups', 'add-client', 'Ring 1', a.clientId);
  const groups = (await cli('groups', 'list')) as Array<{ name: string; members: number }>;
  t.is(groups.find((g) => g.name === 'Ring 1')?.members, 1);

  const u = await publishBytes(site, 'a1', fileManifest('a.bin'), 'a.bin');
  t.like(
    await cli(
      'approve',
      u.updateId,
      '--group',
      'Ring 1',
      '--action',
      'install',
      '--percent',
      '50',
      '--deadline',
      '2030-01-01T00:00:00Z',
    ),
    {
      updateId: u.updateId,
      percent: 50,
      deadline: '2030-01-01T00:00:00.000Z',
    },
  );
  const report = (await cli('report', 'revisions')) as Array<Record<string, unknown>>;
  t.like(report[0], {
    updateId: u.updateId,
    group: 'Ring 1',
    status: 'active',
    installed: 0,
    alreadyInstalled: 0,
    uninstalled: 0,
    failed: 0,
    notApplicable: 0,
  });
  const readable = await runCli(['report', 'revisions'], env);
  t.regex(
    readable.stdout,
    /^UPDATE\s+REV\s+GROUP\s+TITLE\s+STATUS\s+INSTALLED\s+ALREADY INSTALLED\s+UNINSTALLED\s+FAILED\s+PENDING\s+NOT APPLICABLE\n\S+\s+1\s+Ring 1\s+Contoso Tool 1\.0\s+active\s+0\s+0\s+0\s+0\s+[01]\s+0\n?$/,
  );
  t.deepEqual(await cli('report', 'client', a.clientId), []);
  t.is(((await cli('report', 'stale', '--days', '1')) as unknown[]).length, 0);
  t.deepEqual(await cli('report', 'client-install-failures'), []);

  const human = await runCli(['clients', 'list'], env);
  t.regex(human.stdout, /CLIENT\s+HARDWARE ID/);

  site.config.site.duplicateHardwareId = 'manual';
  const dup = await site.registration.register(registration({ hardwareId: 'hw-2' }));
  const conflicts = (await cli('clients', 'conflicts')) as Array<{ clientId: string }>;
  t.deepEqual(
    conflicts.map((c) => c.clientId),
    [dup.clientId],
  );
  t.like(await cli('clients', 'resolve', dup.clientId, '--new'), { recordState: 'active' });

  for (const bad of [
    ['clients', 'approve', '00000000-0000-0000-0000-000000000000'],
    ['clients', 'resolve', a.clientId],
    ['clients', 'resolve', a.clientId, '--merge'],
    ['approve', u.updateId, '--group', 'Nope', '--action', 'install'],
    ['approve', u.updateId, '--group', 'Ring 1', '--action', 'explode'],
    ['approve', u.updateId, '--group', 'Ring 1', '--action', 'install', '--percent', 'lots'],
    ['report', 'stale', '--days', '0'],
  ]) {
    const res = await runCli(bad, env);
    t.not(res.code, 0, bad.join(' '));
    // One clear line (commander adds its usual "run with --help" hint to argument errors).
    t.regex(res.stderr, /^(upcat: |error: )\S.*\n/, bad.join(' '));
  }
});
