import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { ExecutionContext } from 'ava';
import type { ChildProcess } from 'node:child_process';
import { buildPackage } from '../../src/publish/package.js';
import { CLI, collect, runCli, spawnCli, type CliResult } from '../helpers/cli.js';
import { dbTestSerial, type SiteContext } from '../helpers/site.js';

/**
 * Issue 6 item 8: the whole journey of a client build, through the built CLI. `upcat serve` runs
 * as a child process; agents are child processes of the CLI with their own state directories
 * and inventory snapshots.
 */

interface Server {
  url: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

async function serve(env: NodeJS.ProcessEnv): Promise<Server> {
  const child = spawnCli(['serve', '--port', '0', '--host', '127.0.0.1'], env);
  const done = collect(child);
  const url = await new Promise<string>((resolve, reject) => {
    let seen = '';
    child.stderr?.on('data', (d: Buffer) => {
      seen += d.toString();
      const m = /serving site \w+ on (http:\/\/[\d.]+:\d+)/.exec(seen);
      if (m?.[1] !== undefined) resolve(m[1]);
    });
    child.once('exit', () => reject(new Error(`server exited early: ${seen}`)));
    setTimeout(() => reject(new Error(`server did not start: ${seen}`)), 20_000).unref();
  });
  return {
    url,
    child,
    stop: async () => {
      child.kill('SIGTERM');
      await done;
    },
  };
}

/** A pass-through proxy that, while `cutAfter` is set, drops a payload download after that many bytes. */
async function proxy(upstream: string): Promise<{
  url: string;
  cutAfter: number | undefined;
  ranges: string[];
  close(): Promise<void>;
}> {
  const state = {
    url: '',
    cutAfter: undefined as number | undefined,
    ranges: [] as string[],
    close: async () => undefined,
  };
  const target = new URL(upstream);
  const server = http.createServer((req, res) => {
    const isPayload = /^\/content\/[0-9a-f]{64}$/.test(req.url ?? '');
    if (isPayload) state.ranges.push(req.headers.range ?? 'none');
    const up = http.request(
      {
        host: target.hostname,
        port: target.port,
        path: req.url,
        method: req.method,
        headers: req.headers,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        const cut = isPayload ? state.cutAfter : undefined;
        if (cut === undefined) {
          answer.pipe(res);
          return;
        }
        let sent = 0;
        answer.on('data', (chunk: Buffer) => {
          if (sent >= cut) return;
          const part = chunk.subarray(0, cut - sent);
          sent += part.length;
          res.write(part);
          if (sent >= cut) {
            answer.destroy();
            res.socket?.destroy(); // the "server" dies mid-download
          }
        });
      },
    );
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  state.close = () =>
    new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve(undefined));
    });
  return state;
}

const SETUP = `#!/bin/sh
# Writes a marker into the directory named by the installation property markerDir.
mkdir -p "$UPCAT_PROPERTY_markerDir" && echo "$UPCAT_VERSION" > "$UPCAT_PROPERTY_markerDir/installed-$UPCAT_VERSION"
`;

async function clientPackage(
  work: string,
  name: string,
  version: string,
  files: Record<string, string | Buffer> = {},
): Promise<string> {
  const dir = path.join(work, `${name}-${version}`.replace(/\s+/g, '-'));
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'setup.sh'), SETUP, { mode: 0o755 });
  for (const [file, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, file)), { recursive: true });
    await writeFile(path.join(dir, file), content, {
      mode: file.startsWith('bin/') ? 0o755 : 0o644,
    });
  }
  const out = path.join(work, `${path.basename(dir)}.zip`);
  await buildPackage({ dir, name, version, out });
  return out;
}

function manifest(version: string, over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    title: `Contoso Client ${version}`,
    product: 'Contoso Client',
    classification: 'Updates',
    version,
    handler: { type: 'commandLine', program: 'setup.sh' },
    isInstalled: { FileExists: { Path: `/opt/contoso/${version}/client` } },
    isInstallable: {
      And: [{ Platform: { Name: 'linux' } }, { Processor: { Architecture: 'x64' } }],
    },
    ...over,
  };
}

interface Fixture {
  t: ExecutionContext;
  ctx: SiteContext;
  work: string;
  cli(...args: string[]): Promise<unknown>;
  publish(file: string, m: Record<string, unknown>): Promise<{ updateId: string; sha256: string }>;
}

async function fixture(t: ExecutionContext, ctx: SiteContext): Promise<Fixture> {
  const work = await mkdtemp(path.join(os.tmpdir(), 'upcat-journey-'));
  t.teardown(() => rm(work, { recursive: true, force: true }));
  // Clients are approved when they register (the default needs an enrollment token).
  await writeFile(
    path.join(ctx.home, 'upcat.config.json'),
    JSON.stringify({ site: { approval: 'auto-all' } }),
  );
  const cli = async (...args: string[]): Promise<unknown> => {
    const res = await runCli([...args, '--json'], ctx.env);
    t.is(res.code, 0, `${args.join(' ')}: ${res.stderr}`);
    return JSON.parse(res.stdout) as unknown;
  };
  return {
    t,
    ctx,
    work,
    cli,
    publish: async (file, m) => {
      const mf = path.join(work, `m-${randomBytes(4).toString('hex')}.json`);
      await writeFile(mf, JSON.stringify(m));
      return (await cli('publish', file, '--manifest', mf, '--quiet')) as {
        updateId: string;
        sha256: string;
      };
    },
  };
}

interface Endpoint {
  name: string;
  stateDir: string;
  markers: string;
  run(server: string, ...extra: string[]): Promise<CliResult & { report?: AgentReport }>;
}

interface AgentReport {
  agentVersion: string;
  clientId: string;
  results: Array<{ updateId: string; state: string; detail?: string }>;
}

async function endpoint(
  f: Fixture,
  name: string,
  inventory: Record<string, unknown>,
): Promise<Endpoint> {
  const dir = path.join(f.work, name);
  await mkdir(dir, { recursive: true });
  const inv = path.join(dir, 'inventory.json');
  await writeFile(inv, JSON.stringify(inventory));
  const stateDir = path.join(dir, 'state');
  const markers = path.join(dir, 'markers');
  return {
    name,
    stateDir,
    markers,
    run: async (server, ...extra) => {
      const res = await runCli(
        [
          'agent',
          '--once',
          '--json',
          '--server',
          server,
          '--state-dir',
          stateDir,
          '--inventory',
          inv,
          '--hardware-id',
          `hw-${name}`,
          '--name',
          name,
          '--property',
          `markerDir=${markers}`,
          ...extra,
        ],
        { PATH: process.env['PATH'], HOME: process.env['HOME'] },
      );
      const line = res.stdout.trim().split('\n').pop() ?? '';
      return {
        ...res,
        ...(line.startsWith('{') ? { report: JSON.parse(line) as AgentReport } : {}),
      };
    },
  };
}

const linux = (arch: string, files: Record<string, unknown> = {}): Record<string, unknown> => ({
  platform: { name: 'linux', version: '12', architecture: arch },
  files,
});

async function markers(dir: string): Promise<string[]> {
  return (await readdir(dir).catch(() => [] as string[])).sort();
}

interface RevisionRow {
  updateId: string;
  installed: number;
  failed: number;
  notApplicable: number;
  pending: number;
}

dbTestSerial(
  'agent journey: install, already installed, not applicable, upgrade, block, tampering, resume',
  async (t, ctx) => {
    t.timeout(10 * 60_000); // a dozen CLI processes on a busy two-core machine
    const f = await fixture(t, ctx);
    const v1 = await f.publish(
      await clientPackage(f.work, 'Contoso Client', '1.0'),
      manifest('1.0'),
    );
    await f.cli('approve', v1.updateId, '--group', 'All Computers', '--action', 'install');
    const server = await serve(ctx.env);
    t.teardown(() => server.stop());

    const fresh = await endpoint(f, 'fresh', linux('x64'));
    const has1 = await endpoint(
      f,
      'has-v1',
      linux('x64', { '/opt/contoso/1.0/client': { size: 1 } }),
    );
    const arm = await endpoint(f, 'arm', linux('arm64'));
    for (const e of [fresh, has1, arm]) {
      const r = await e.run(server.url);
      t.is(r.code, 0, `${e.name}: ${r.stderr}`);
    }
    // Exactly the applicable endpoint ran the installer.
    t.deepEqual(await markers(fresh.markers), ['installed-1.0']);
    t.deepEqual(await markers(has1.markers), []);
    t.deepEqual(await markers(arm.markers), []);
    // "Already installed" is reported as installed (detail: IsInstalled is true).
    let report = (await f.cli('report', 'revisions')) as RevisionRow[];
    t.like(
      report.find((r) => r.updateId === v1.updateId),
      { installed: 2, notApplicable: 1, failed: 0, pending: 0 },
    );

    // v2 supersedes v1: the endpoints it applies to upgrade; the others stay as they are.
    const v2 = await f.publish(
      await clientPackage(f.work, 'Contoso Client', '2.0'),
      manifest('2.0', { supersedes: [v1.updateId] }),
    );
    await f.cli('approve', v2.updateId, '--group', 'All Computers', '--action', 'install');
    const up = await fresh.run(server.url);
    t.is(up.code, 0, up.stderr);
    t.deepEqual(await markers(fresh.markers), ['installed-1.0', 'installed-2.0']);
    t.is(up.report?.results.find((r) => r.updateId === v2.updateId)?.state, 'installed');
    t.is((await has1.run(server.url)).code, 0);
    t.deepEqual(await markers(has1.markers), ['installed-2.0']);
    report = (await f.cli('report', 'revisions')) as RevisionRow[];
    t.like(
      report.find((r) => r.updateId === v2.updateId),
      { installed: 2, failed: 0 },
    );

    // A blocked client is refused, and says so.
    await f.cli('clients', 'block', up.report?.clientId ?? '');
    const blocked = await fresh.run(server.url);
    t.is(blocked.code, 2);
    t.regex(blocked.stderr, /client_blocked/);
    t.regex(blocked.stderr, /blocked/);

    // Tampered bytes in the pool: the agent refuses to install them and reports the failure.
    const tool = await f.publish(
      await clientPackage(f.work, 'Contoso Tool', '1.0'),
      manifest('1.0', {
        title: 'Contoso Tool 1.0',
        product: 'Contoso Tool',
        isInstalled: undefined,
      }),
    );
    await f.cli('approve', tool.updateId, '--group', 'All Computers', '--action', 'install');
    const poolFile = path.join(ctx.home, 'packages', 'pool', tool.sha256.slice(0, 2), tool.sha256);
    const bytes = await readFile(poolFile);
    bytes[bytes.length - 30] = (bytes[bytes.length - 30] ?? 0) ^ 0xff;
    await chmod(poolFile, 0o644);
    await writeFile(poolFile, bytes);
    // The arm endpoint, now claiming x64, so that the tool applies to it.
    const asX64 = ['--inventory', await invFile(f, linux('x64'))];
    const tampered = await arm.run(server.url, ...asX64);
    t.is(tampered.code, 2);
    t.regex(tampered.stderr, /do not match the SHA-256 of the signed catalog/);
    t.false((await markers(arm.markers)).includes('installed-1.0'));
    report = (await f.cli('report', 'revisions')) as RevisionRow[];
    t.like(
      report.find((r) => r.updateId === tool.updateId),
      { failed: 1, installed: 0 },
    );

    // The site goes away mid-download of a large payload; the agent resumes with Range.
    const big = await f.publish(
      await clientPackage(f.work, 'Contoso Data', '1.0', {
        'data.bin': randomBytes(3 * 1024 * 1024),
      }),
      manifest('1.0', {
        title: 'Contoso Data 1.0',
        product: 'Contoso Data',
        isInstalled: undefined,
      }),
    );
    await f.cli('approve', big.updateId, '--group', 'All Computers', '--action', 'install');
    const p = await proxy(server.url);
    t.teardown(() => p.close());
    p.cutAfter = 1024 * 1024;
    // (The tampered tool waits out its retry backoff on this endpoint, so only the data downloads.)
    const cut = await arm.run(p.url, ...asX64);
    t.not(cut.code, 0);
    t.regex(cut.stderr, /cannot reach the site/);
    p.cutAfter = undefined;
    const resumed = await arm.run(p.url, ...asX64);
    t.is(resumed.code, 0, resumed.stderr);
    const data = resumed.report?.results.find((r) => r.updateId === big.updateId);
    t.is(data?.state, 'installed', resumed.stderr);
    // The resumed request asks for the rest: from what arrived before the cut (at most the cut).
    t.is(p.ranges.length, 2);
    t.is(p.ranges[0], 'none');
    const from = Number(/^bytes=(\d+)-$/.exec(p.ranges[1] ?? '')?.[1]);
    t.true(from > 0 && from <= 1024 * 1024, p.ranges.join(', '));
    t.regex(data?.detail ?? '', /exit code 0/);
    t.true((await markers(arm.markers)).includes('installed-1.0'));
    const status = await runCli(
      ['agent', 'status', '--state-dir', arm.stateDir, '--json'],
      process.env,
    );
    const s = JSON.parse(status.stdout) as {
      failed: Array<{ updateId: string }>;
      queuedMessages: number;
    };
    t.deepEqual(
      s.failed.map((x) => x.updateId),
      [tool.updateId],
    );
    t.is(s.queuedMessages, 0, 'the cannot_reach_site message was sent once the site came back');
  },
);

async function invFile(f: Fixture, inv: Record<string, unknown>): Promise<string> {
  const file = path.join(f.work, `inv-${randomBytes(4).toString('hex')}.json`);
  await writeFile(file, JSON.stringify(inv));
  return file;
}

dbTestSerial(
  'agent self-upgrade: v1 installs the v2 agent build; the next cycle runs v2 and reports it',
  async (t, ctx) => {
    t.timeout(5 * 60_000);
    const f = await fixture(t, ctx);
    const entry = `#!/bin/sh
exec "${process.execPath}" "${CLI}" agent --agent-version 2.0.0 "$@"
`;
    const build = await clientPackage(f.work, 'upcat-agent', '2.0.0', {
      'bin/upcat-agent': entry,
    });
    const u = await f.publish(build, {
      title: 'upcat agent 2.0.0',
      product: 'upcat-agent',
      classification: 'Updates',
      version: '2.0.0',
      handler: { type: 'commandLine', program: 'setup.sh' },
    });
    await f.cli('approve', u.updateId, '--group', 'All Computers', '--action', 'install');
    const server = await serve(ctx.env);
    t.teardown(() => server.stop());
    const e = await endpoint(f, 'self', linux('x64'));

    const first = await e.run(server.url);
    t.is(first.code, 0, first.stderr);
    t.is(first.report?.agentVersion, '0.1.0');
    t.is(first.report?.results[0]?.state, 'installed');

    const second = await e.run(server.url);
    t.is(second.code, 0, second.stderr);
    t.is(second.report?.agentVersion, '2.0.0');
    const clients = (await f.cli('clients', 'list')) as Array<{
      clientId: string;
      clientVersion: string;
    }>;
    t.is(clients.find((c) => c.clientId === second.report?.clientId)?.clientVersion, '2.0.0');
    const status = await runCli(
      ['agent', 'status', '--state-dir', e.stateDir, '--json'],
      process.env,
    );
    t.like(JSON.parse(status.stdout), { agentVersion: '2.0.0', installedAgentVersion: '2.0.0' });
  },
);
