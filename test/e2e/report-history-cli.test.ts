import { randomUUID } from 'node:crypto';
import { runCli, type CliResult } from '../helpers/cli.js';
import { fileManifest, publishBytes } from '../helpers/publish.js';
import { serveCli } from '../helpers/served-cli.js';
import { dbTestSerial } from '../helpers/site.js';

const ok = (r: CliResult): string => {
  if (r.code !== 0) throw new Error(`exit ${r.code}: ${r.stderr}`);
  return r.stdout;
};

/** The points without their times: the last one ends "now", which moves between two calls. */
const counts = (csv: string): string[] =>
  csv
    .trim()
    .split('\r\n')
    .map((line) => line.split(',').slice(1).join(','));

dbTestSerial(
  'upcat report history: a table, --json and --csv, locally and with --server; bad options are one line',
  async (t, { site, env }) => {
    const { updateId } = await publishBytes(site, 'tool', fileManifest('tool.bin'));
    await site.deployments.approve({ updateId, group: 'All Computers', action: 'install' }, 't');
    const clientId = randomUUID();
    await site.db('clients').insert({
      client_id: clientId,
      hardware_id: 'hw-1',
      name: 'pc-1',
      os: 'linux',
      architecture: 'x64',
      client_version: '1.0.0',
      approval: 'approved',
      blocked: false,
      record_state: 'active',
      created_at: new Date(Date.now() - 3_600_000).toISOString(),
      last_contact: null,
    });
    await site.db('state_messages').insert({
      message_id: randomUUID(),
      client_id: clientId,
      authenticated: true,
      topic: 'update',
      update_id: updateId,
      revision_number: 1,
      state: 'installed',
      received_at: new Date(Date.now() - 60_000).toISOString(),
    });

    const json = JSON.parse(
      ok(await runCli(['report', 'history', updateId, '--bucket', 'hour', '--json'], env)),
    ) as Array<{ installed: number; pending: number; targeted: number }>;
    t.is(json.length, 49, '48 hours back, and the hour now');
    t.like(json.at(-1), { installed: 1, pending: 0, targeted: 1 });
    t.like(json[0], { installed: 0, pending: 1 });
    t.regex(ok(await runCli(['report', 'history', updateId], env)), /^UNTIL\s+REV\s+INSTALLED/);

    const local = ok(await runCli(['report', 'history', updateId, '--csv'], env));
    t.is(
      local.split('\r\n')[0],
      'at,updateId,revision,installed,failed,pending,notApplicable,targeted',
    );
    const server = await serveCli(env);
    t.teardown(() => server.stop());
    const token = (
      JSON.parse(ok(await runCli(['token', 'create', '--scope', 'read', '--json'], env))) as {
        token: string;
      }
    ).token;
    const remote = ok(
      await runCli(
        ['report', 'history', updateId, '--csv', '--server', server.url, '--token', token],
        env,
      ),
    );
    t.deepEqual(counts(remote), counts(local));

    for (const [args, message] of [
      [['--bucket', 'week'], 'bucket: must be hour or day'],
      [['--revision', 'x'], 'revision: must be a whole number, 1 or more'],
      [['--csv', '--json'], '--csv and --json: choose one'],
    ] as const) {
      const bad = await runCli(['report', 'history', updateId, ...args], env);
      t.not(bad.code, 0);
      t.is(bad.stderr.trim().split('\n').length, 1, bad.stderr);
      t.true(bad.stderr.includes(message), bad.stderr);
    }
  },
);
