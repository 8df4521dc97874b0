import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { ExecutionContext } from 'ava';
import { buildPackage } from '../../src/publish/package.js';
import { startServer, type RunningServer } from '../../src/server/serve.js';
import { SITE_VERSION } from '../../src/version.js';
import { CLI, collect, runCli, spawnCli } from '../helpers/cli.js';
import { publishFile } from '../helpers/publish.js';
import { dbTestSerial, type SiteContext } from '../helpers/site.js';

/**
 * `upcat agent` as a service runs it (docs/AGENT.md): through the built CLI, with `--interval`,
 * against a site served in process. Self-upgrade in service mode (issue 6 item 6) and the
 * command line's own rules.
 */

interface Fixture {
  work: string;
  running: RunningServer;
  inventory: string;
}

async function fixture(t: ExecutionContext, ctx: SiteContext): Promise<Fixture> {
  ctx.site.config.site.approval = 'auto-all';
  const running = await startServer(ctx.site, { host: '127.0.0.1', port: 0 });
  const work = await mkdtemp(path.join(os.tmpdir(), 'upcat-agent-service-'));
  t.teardown(async () => {
    await running.close();
    await rm(work, { recursive: true, force: true });
  });
  const inventory = path.join(work, 'inventory.json');
  await writeFile(
    inventory,
    JSON.stringify({ platform: { name: 'linux', version: '12', architecture: 'x64' } }),
  );
  return { work, running, inventory };
}

/** An `upcat-agent` build whose entry point runs this CLI as the given version. */
async function publishAgentBuild(ctx: SiteContext, f: Fixture, version: string): Promise<string> {
  const dir = path.join(f.work, `upcat-agent-${version}`);
  await mkdir(path.join(dir, 'bin'), { recursive: true });
  await writeFile(path.join(dir, 'setup.sh'), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
  await writeFile(
    path.join(dir, 'bin', 'upcat-agent'),
    `#!/bin/sh\nexec "${process.execPath}" "${CLI}" agent --agent-version ${version} "$@"\n`,
    { mode: 0o755 },
  );
  const out = path.join(f.work, `upcat-agent-${version}.zip`);
  await buildPackage({ dir, name: 'upcat-agent', version, out });
  const published = await publishFile(ctx.site, out, {
    title: `upcat agent ${version}`,
    product: 'upcat-agent',
    classification: 'Updates',
    version,
    handler: { type: 'commandLine', program: 'setup.sh' },
  });
  await ctx.site.deployments.approve(
    { updateId: published.updateId, group: 'All Computers', action: 'install' },
    'test',
  );
  return published.updateId;
}

interface Report {
  agentVersion: string;
  clientId?: string;
  results: Array<{ updateId: string; state: string }>;
}

dbTestSerial(
  'agent --interval: a cycle that installs a newer agent build hands over; the next cycle runs it and reports it',
  async (t, ctx) => {
    t.timeout(3 * 60_000);
    const f = await fixture(t, ctx);
    const updateId = await publishAgentBuild(ctx, f, '2.0.0');
    const stateDir = path.join(f.work, 'state');
    const args = ['agent', '--server', f.running.url, '--state-dir', stateDir, '--interval', '1'];
    const child = spawnCli(
      [...args, '--json', '--inventory', f.inventory, '--hardware-id', 'hw-svc', '--name', 'svc'],
      { PATH: process.env['PATH'], HOME: process.env['HOME'] },
    );
    const done = collect(child);
    const reports: Report[] = [];
    // Until a cycle reports 2.0.0 and then one more: the upgraded agent keeps cycling.
    await new Promise<void>((resolve, reject) => {
      let buffer = '';
      child.stdout?.on('data', (d: Buffer) => {
        buffer += d.toString();
        for (;;) {
          const nl = buffer.indexOf('\n');
          if (nl < 0) break;
          reports.push(JSON.parse(buffer.slice(0, nl)) as Report);
          buffer = buffer.slice(nl + 1);
        }
        if (reports.filter((r) => r.agentVersion === '2.0.0').length >= 2) resolve();
      });
      child.once('exit', (code) => reject(new Error(`the agent exited (${code}) early`)));
      setTimeout(() => reject(new Error('no cycle of version 2.0.0')), 120_000).unref();
    });
    child.kill('SIGTERM'); // the service manager stops the (parent) process
    const end = await done;
    t.is(end.code, 0, end.stderr);
    t.is(reports[0]?.agentVersion, SITE_VERSION);
    t.like(reports[0]?.results[0], { updateId, state: 'installed' });
    t.is(reports[1]?.agentVersion, '2.0.0', 'the cycle right after the install runs 2.0.0');
    t.deepEqual(
      reports.slice(1).map((r) => r.agentVersion),
      reports.slice(1).map(() => '2.0.0'),
    );
    const clientId = reports[0]?.clientId ?? '';
    const record = (await ctx.site.db('clients').where({ client_id: clientId }).first()) as
      { client_version: string } | undefined;
    t.is(record?.client_version, '2.0.0', 'the site hears the running version');
    // Stopping the parent stopped the agent it handed over to: nothing still writes state.
    const status = await runCli(
      ['agent', 'status', '--state-dir', stateDir, '--json'],
      process.env,
    );
    t.like(JSON.parse(status.stdout), { agentVersion: '2.0.0', installedAgentVersion: '2.0.0' });
  },
);

dbTestSerial('agent: --once with --interval is a usage error on one line', async (t, ctx) => {
  const f = await fixture(t, ctx);
  const r = await runCli(
    [
      'agent',
      '--server',
      f.running.url,
      '--state-dir',
      path.join(f.work, 's'),
      '--once',
      '--interval',
      '60',
    ],
    { PATH: process.env['PATH'], HOME: process.env['HOME'] },
  );
  t.is(r.code, 2);
  t.is(r.stdout, '');
  t.is(
    r.stderr,
    'upcat: --once and --interval cannot be given together: --once runs one cycle, --interval runs one every so many seconds\n',
  );
});

dbTestSerial(
  'agent: --dns-server and --domain find the site by DNS SRV; --fallback-status-point is checked',
  async (t, ctx) => {
    const f = await fixture(t, ctx);
    const { port } = new URL(f.running.url);
    const dgram = await import('node:dgram');
    const dnsPacket = (await import('dns-packet')).default;
    const socket = dgram.createSocket('udp4');
    socket.on('message', (msg, from) => {
      const q = dnsPacket.decode(msg);
      const name = q.questions?.[0]?.name ?? '';
      socket.send(
        dnsPacket.encode({
          type: 'response',
          id: q.id ?? 0,
          flags: dnsPacket.AUTHORITATIVE_ANSWER,
          questions: q.questions ?? [],
          answers: [
            {
              type: 'SRV',
              name,
              ttl: 5,
              data: { priority: 0, weight: 0, port: Number(port), target: '127.0.0.1' },
            },
          ],
        }),
        from.port,
        from.address,
      );
    });
    await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
    t.teardown(() => new Promise<void>((r) => socket.close(() => r())));
    const dns = `127.0.0.1:${socket.address().port}`;
    const base = ['agent', '--state-dir', path.join(f.work, 's'), '--inventory', f.inventory];
    const env = { PATH: process.env['PATH'], HOME: process.env['HOME'] };
    const r = await runCli([...base, '--domain', 'corp.test', '--dns-server', dns, '--json'], env);
    t.is(r.code, 0, r.stderr);
    t.like(JSON.parse(r.stdout), { source: 'dns srv', server: f.running.url });

    const viaEnv = await runCli([...base, '--domain', 'corp.test', '--json'], {
      ...env,
      UPCAT_DNS_SERVERS: dns,
    });
    t.is(viaEnv.code, 0, viaEnv.stderr);

    const bad = await runCli(
      [...base, '--server', f.running.url, '--fallback-status-point', 'ftp://x'],
      env,
    );
    t.is(bad.code, 2);
    t.is(bad.stderr, 'upcat: --fallback-status-point: "ftp://x" must be an http or https URL\n');
  },
);
