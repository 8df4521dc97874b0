import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { ExecutionContext } from 'ava';
import knexFactory from 'knex';
import { Updater } from 'tuf-js';
import { endpoint, linux, markerPackage, type AgentRun } from '../helpers/agent-endpoint.js';
import { runCliWithin, startServe } from '../helpers/processes.js';
import { dbTestSerial, siteEnv, type SiteContext } from '../helpers/site.js';

/**
 * Issue 13 item 1: back up under publish load, publish more, restore the older backup; an agent
 * and a tuf-js client that saw the newer catalog carry on against the restored site, and
 * `upcat verify` is green. Everything through the built CLI.
 */

const CLI_MS = 120_000;
const PASSPHRASE = 'correct horse battery staple';

interface Published {
  updateId: string;
}

function manifest(version: string): Record<string, unknown> {
  return {
    title: `Contoso Client ${version}`,
    product: 'Contoso Client',
    classification: 'Updates',
    version,
    handler: { type: 'commandLine', program: 'setup.sh' },
    isInstalled: { FileExists: { Path: `/opt/contoso/${version}/client` } },
    isInstallable: { Platform: { Name: 'linux' } },
  };
}

async function cli(env: NodeJS.ProcessEnv, ...args: string[]): Promise<string> {
  const res = await runCliWithin(args, env, CLI_MS);
  if (res.code !== 0) throw new Error(`upcat ${args.join(' ')}: exit ${res.code}: ${res.stderr}`);
  return res.stdout;
}

async function publish(env: NodeJS.ProcessEnv, work: string, version: string): Promise<string> {
  const pkg = await markerPackage(work, 'Contoso Client', version);
  const mf = path.join(work, `manifest-${version}.json`);
  await writeFile(mf, JSON.stringify(manifest(version)));
  const out = await cli(env, 'publish', pkg, '--manifest', mf, '--quiet', '--json');
  return (JSON.parse(out) as Published).updateId;
}

/** The version of timestamp.json a TUF client keeps in `dir`. */
async function trustedTimestamp(dir: string): Promise<number> {
  const md = JSON.parse(await readFile(path.join(dir, 'timestamp.json'), 'utf8')) as {
    signed: { version: number };
  };
  return md.signed.version;
}

/** Where the restored site keeps its database: a new file, or a new PostgreSQL database. */
async function restoredEnv(
  t: ExecutionContext,
  ctx: SiteContext,
  home: string,
): Promise<NodeJS.ProcessEnv> {
  const env = siteEnv(ctx.kind, home);
  if (ctx.kind === 'sqlite') return env;
  // A restore goes to a new database server; here a new database with the backup's schema name.
  const base = process.env['DATABASE_URL'] as string;
  const name = `upcat_restore_${randomBytes(5).toString('hex')}`;
  const admin = knexFactory({ client: 'pg', connection: base });
  await admin.raw(`create database "${name}"`);
  t.teardown(async () => {
    await admin.raw(`drop database if exists "${name}" with (force)`);
    await admin.destroy();
  });
  const url = new URL(base);
  url.pathname = `/${name}`;
  return {
    ...env,
    DATABASE_URL: url.toString(),
    UPCAT_DATABASE_SCHEMA: ctx.env['UPCAT_DATABASE_SCHEMA'],
  };
}

dbTestSerial(
  'restore of an older backup: agents and tuf-js that saw a newer catalog carry on, verify is green',
  async (t, ctx) => {
    t.timeout(10 * 60_000);
    const work = await mkdtemp(path.join(os.tmpdir(), 'upcat-backup-'));
    t.teardown(() => rm(work, { recursive: true, force: true }));
    await writeFile(
      path.join(ctx.home, 'upcat.config.json'),
      JSON.stringify({ site: { approval: 'auto-all' } }),
    );
    const env = ctx.env;
    const v1 = await publish(env, work, '1.0');
    await cli(env, 'approve', v1, '--group', 'All Computers', '--action', 'install');

    const first = await startServe(env);
    t.teardown(() => first.stop());
    const agent = await endpoint(work, 'pc', linux('x64'));
    const run1 = await agent.run(first.url);
    t.is(run1.code, 0, run1.stderr);

    // A tuf-js client of its own, trusting root version 1 as an installed client would.
    const tufDir = path.join(work, 'tuf-js');
    await mkdir(tufDir, { recursive: true });
    await copyFile(
      path.join(ctx.home, 'catalog', 'tuf', '1.root.json'),
      path.join(tufDir, 'root.json'),
    );
    const tufClient = (base: string): Updater =>
      new Updater({
        metadataDir: tufDir,
        metadataBaseUrl: `${base}/tuf`,
        targetDir: path.join(work, 'tuf-js-targets'),
        targetBaseUrl: `${base}/tuf/targets`,
        config: { fetchRetry: 0, fetchTimeout: 10_000 },
      });
    await mkdir(path.join(work, 'tuf-js-targets'), { recursive: true });
    await tufClient(first.url).refresh();

    // The backup runs while five publishes go on.
    const backup = path.join(work, 'site.backup');
    const keyEnv = { ...env, UPCAT_BACKUP_PASSPHRASE: PASSPHRASE };
    const [backupOut] = await Promise.all([
      cli(keyEnv, 'backup', '--out', backup, '--include-keys', '--json'),
      ...['2.0', '2.1', '2.2', '2.3', '2.4'].map((v) => publish(env, work, v)),
    ]);
    const recorded = (JSON.parse(backupOut) as { manifest: { tuf: { timestamp: number } } })
      .manifest.tuf;

    // More is published after the backup; the agent and tuf-js see it.
    const v3 = await publish(env, work, '3.0');
    await cli(env, 'approve', v3, '--group', 'All Computers', '--action', 'install');
    await publish(env, work, '3.1');
    const run2 = await agent.run(first.url);
    t.is(run2.code, 0, run2.stderr);
    t.true(
      (run2 as AgentRun).report?.results.some((r) => r.updateId === v3 && r.state === 'installed'),
      'the agent installed what was published after the backup',
    );
    await tufClient(first.url).refresh();
    const agentSaw = await trustedTimestamp(path.join(agent.stateDir, 'tuf'));
    const tufJsSaw = await trustedTimestamp(tufDir);
    // Without a version jump, the restored site would serve a timestamp these clients reject.
    t.true(recorded.timestamp < agentSaw, `backup ${recorded.timestamp} < agent ${agentSaw}`);
    await first.stop();

    // Restore refuses a home that is not empty, and a wrong passphrase, with one line.
    const notEmpty = await runCliWithin(
      ['restore', backup, '--home', ctx.home],
      { ...keyEnv },
      CLI_MS,
    );
    t.is(notEmpty.code, 2);
    t.regex(notEmpty.stderr, /^upcat: .*is not empty.*\n$/);
    const home2 = path.join(work, 'restored');
    const env2 = await restoredEnv(t, ctx, home2);
    const wrong = await runCliWithin(
      ['restore', backup, '--home', home2],
      { ...env2, UPCAT_BACKUP_PASSPHRASE: 'not the passphrase' },
      CLI_MS,
    );
    t.is(wrong.code, 2, wrong.stderr);
    t.regex(wrong.stderr, /^upcat: the passphrase does not open the signing keys/);
    await rm(home2, { recursive: true, force: true });

    const restored = await runCliWithin(
      ['restore', backup, '--home', home2],
      { ...env2, UPCAT_BACKUP_PASSPHRASE: PASSPHRASE },
      CLI_MS,
    );
    t.is(restored.code, 0, restored.stderr);
    t.regex(restored.stdout, /re-signed at version \d+ \(margin \d+\)/);

    const second = await startServe(env2);
    t.teardown(() => second.stop());
    // The agent that saw the newer catalog carries on: no rollback error, no re-registration.
    const run3 = await agent.run(second.url);
    t.is(run3.code, 0, run3.stderr);
    t.is((run3 as AgentRun).report?.clientId, (run1 as AgentRun).report?.clientId);
    t.true((await trustedTimestamp(path.join(agent.stateDir, 'tuf'))) > agentSaw);
    // So does tuf-js, and it still finds the targets published before the backup.
    const updater = tufClient(second.url);
    await updater.refresh();
    t.true((await trustedTimestamp(tufDir)) > tufJsSaw);
    t.truthy(await updater.getTargetInfo(`updates/${v1}.xml`));

    const verify = await runCliWithin(['verify'], env2, CLI_MS);
    t.is(verify.code, 0, verify.stderr);
    // A publish on the restored site works and moves on from the restored versions.
    await publish(env2, work, '4.0');
    const run4 = await agent.run(second.url);
    t.is(run4.code, 0, run4.stderr);
  },
);
