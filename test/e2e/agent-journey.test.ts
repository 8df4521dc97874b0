import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { ExecutionContext } from 'ava';
import { loadState } from '../../src/agent/state.js';
import type { HistoryEntry, RevisionReport } from '../../src/site/reports.js';
import {
  endpoint,
  linux,
  markerOf,
  markerPackage,
  type AgentRun,
  type Endpoint,
} from '../helpers/agent-endpoint.js';
import { CLI } from '../helpers/cli.js';
import { startLoopbackProxy } from '../helpers/loopback-proxy.js';
import { runCliWithin, startServe, type Served } from '../helpers/processes.js';
import { dbTestSerial, type SiteContext } from '../helpers/site.js';

/**
 * Issue 6 item 8, sentence by sentence, through the built CLI: `upcat serve` is a child process
 * (killed and restarted on the same home and port for the outage), a loopback proxy in front of
 * it logs payload requests and can slow them down, and each endpoint is `upcat agent --once`
 * with its own state directory, inventory snapshot and hardware ID.
 */

const CLI_MS = 60_000;

interface Journey {
  work: string;
  cli<T>(...args: string[]): Promise<T>;
  publish(file: string, manifest: Record<string, unknown>): Promise<Published>;
  approve(updateId: string): Promise<void>;
  revision(updateId: string): Promise<RevisionReport | undefined>;
  history(clientId: string, updateId?: string): Promise<HistoryEntry[]>;
}

interface Published {
  updateId: string;
  sha256: string;
  size: number;
}

async function journey(t: ExecutionContext, ctx: SiteContext): Promise<Journey> {
  const work = await mkdtemp(path.join(os.tmpdir(), 'upcat-journey-'));
  t.teardown(() => rm(work, { recursive: true, force: true }));
  // Clients are approved when they register (the default needs an enrollment token).
  await writeFile(
    path.join(ctx.home, 'upcat.config.json'),
    JSON.stringify({ site: { approval: 'auto-all' } }),
  );
  const cli = async <T>(...args: string[]): Promise<T> => {
    const res = await runCliWithin([...args, '--json'], ctx.env, CLI_MS);
    if (res.code !== 0) throw new Error(`upcat ${args.join(' ')}: exit ${res.code}: ${res.stderr}`);
    return JSON.parse(res.stdout) as T;
  };
  return {
    work,
    cli,
    publish: async (file, manifest) => {
      const mf = path.join(work, `manifest-${randomBytes(4).toString('hex')}.json`);
      await writeFile(mf, JSON.stringify(manifest));
      return cli<Published>('publish', file, '--manifest', mf, '--quiet');
    },
    approve: async (updateId) => {
      await cli('approve', updateId, '--group', 'All Computers', '--action', 'install');
    },
    revision: async (updateId) =>
      (await cli<RevisionReport[]>('report', 'revisions')).find((r) => r.updateId === updateId),
    history: async (clientId, updateId) =>
      (await cli<HistoryEntry[]>('report', 'client', clientId)).filter(
        (h) => updateId === undefined || h.updateId === updateId,
      ),
  };
}

/** The manifest of a build with its own product; `over` replaces fields. */
function manifest(
  product: string,
  version: string,
  over: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    title: `${product} ${version}`,
    product,
    classification: 'Updates',
    version,
    handler: { type: 'commandLine', program: 'setup.sh' },
    isInstallable: { Platform: { Name: 'linux' } },
    ...over,
  };
}

/** The client build: installed when its directory exists, for Linux on x64 only. */
const clientBuild = (
  version: string,
  over: Record<string, unknown> = {},
): Record<string, unknown> =>
  manifest('Contoso Client', version, {
    isInstalled: { FileExists: { Path: `/opt/contoso/${version}/client` } },
    isInstallable: {
      And: [{ Platform: { Name: 'linux' } }, { Processor: { Architecture: 'x64' } }],
    },
    ...over,
  });

const STEP_ORDER = ['downloading', 'downloaded', 'installing', 'installed', 'reboot_pending'];

/** States in the order the agent sent them (a tie within a millisecond keeps the step order). */
function sentStates(history: HistoryEntry[]): string[] {
  return [...history]
    .sort(
      (a, b) =>
        (a.sentAt ?? '').localeCompare(b.sentAt ?? '') ||
        STEP_ORDER.indexOf(a.state) - STEP_ORDER.indexOf(b.state),
    )
    .map((h) => h.state);
}

function succeeded(t: ExecutionContext, run: AgentRun, who: string): string {
  t.false(run.timedOut, `${who}: the agent run timed out`);
  t.is(run.code, 0, `${who}: ${run.stderr}`);
  return run.report?.clientId ?? '';
}

const stateOf = (run: AgentRun, updateId: string): string | undefined =>
  run.report?.results.find((r) => r.updateId === updateId)?.state;

dbTestSerial(
  'agent journey: install, already installed, not applicable; upgrade; block; tampering; outage and resume',
  async (t, ctx) => {
    t.timeout(12 * 60_000); // some 30 CLI processes on a busy two-core machine
    const j = await journey(t, ctx);

    // A fresh site; client build v1, approved to a group.
    const v1 = await j.publish(
      await markerPackage(j.work, 'Contoso Client', '1.0'),
      clientBuild('1.0'),
    );
    await j.approve(v1.updateId);
    let server: Served = await startServe(ctx.env);
    t.teardown(() => server.stop());
    const proxy = await startLoopbackProxy(server.port);
    t.teardown(() => proxy.close());

    // Three endpoints with their own state and inventory run the agent once.
    const fresh = await endpoint(j.work, 'fresh', linux('x64'));
    const has1 = await endpoint(
      j.work,
      'has-v1',
      linux('x64', { '/opt/contoso/1.0/client': { size: 1 } }),
    );
    const arm = await endpoint(j.work, 'arm', linux('arm64'));
    const [r1, r2, r3] = await Promise.all([fresh, has1, arm].map((e) => e.run(proxy.url)));
    const id = new Map<Endpoint, string>([
      [fresh, succeeded(t, r1 as AgentRun, 'fresh')],
      [has1, succeeded(t, r2 as AgentRun, 'has-v1')],
      [arm, succeeded(t, r3 as AgentRun, 'arm')],
    ]);
    const idOf = (e: Endpoint): string => id.get(e) ?? '';

    // Exactly the first installs: only its installer ran.
    t.deepEqual(await fresh.markers(), [markerOf('Contoso Client', '1.0')]);
    t.deepEqual(await has1.markers(), []);
    t.deepEqual(await arm.markers(), []);
    t.is(stateOf(r1 as AgentRun, v1.updateId), 'installed');
    t.is(stateOf(r2 as AgentRun, v1.updateId), 'already_installed');
    t.is(stateOf(r3 as AgentRun, v1.updateId), 'not_applicable');
    // The report shows one installed, one already installed, one not applicable.
    t.like(await j.revision(v1.updateId), {
      status: 'active',
      installed: 1,
      alreadyInstalled: 1,
      notApplicable: 1,
      failed: 0,
      pending: 0,
    });
    // Each endpoint's own state messages, as the site stored them.
    t.deepEqual(sentStates(await j.history(idOf(fresh), v1.updateId)), [
      'downloading',
      'downloaded',
      'installing',
      'installed',
    ]);
    const [already] = await j.history(idOf(has1), v1.updateId);
    t.like(already, {
      state: 'already_installed',
      detail: 'already installed (IsInstalled is true)',
    });
    t.is((await j.history(idOf(has1), v1.updateId)).length, 1);
    const na = await j.history(idOf(arm), v1.updateId);
    t.deepEqual(
      na.map((h) => h.state),
      ['not_applicable'],
    );
    t.is(na[0]?.detail, 'installable: false, installed: false, prerequisites installed: true');

    // v2 supersedes v1: the endpoints upgrade (their v2 installer ran), and v1 leaves the policy.
    const v2 = await j.publish(
      await markerPackage(j.work, 'Contoso Client', '2.0'),
      clientBuild('2.0', { supersedes: [v1.updateId] }),
    );
    await j.approve(v2.updateId);
    const [u1, u2] = await Promise.all([fresh.run(proxy.url), has1.run(proxy.url)]);
    succeeded(t, u1 as AgentRun, 'fresh, upgrade');
    succeeded(t, u2 as AgentRun, 'has-v1, upgrade');
    t.is(stateOf(u1 as AgentRun, v2.updateId), 'installed');
    t.deepEqual(await fresh.markers(), [
      markerOf('Contoso Client', '1.0'),
      markerOf('Contoso Client', '2.0'),
    ]);
    t.deepEqual(await has1.markers(), [markerOf('Contoso Client', '2.0')]);
    t.like(await j.revision(v2.updateId), {
      status: 'active',
      installed: 2,
      failed: 0,
      pending: 1, // arm: targeted, and has not run since
    });
    t.like(await j.revision(v1.updateId), { status: 'superseded', installed: 1, pending: 0 });
    t.deepEqual(
      (await loadState(fresh.stateDir)).policy.map((p) => p.updateId),
      [v2.updateId],
    );

    // Block one endpoint: it is refused, and says so in one line.
    await j.cli('clients', 'block', idOf(fresh));
    const refused = await fresh.run(proxy.url);
    t.false(refused.timedOut);
    t.is(refused.code, 2, refused.stderr);
    const named = refused.stderr.split('\n').filter((l) => l.includes('client_blocked'));
    t.is(named.length, 1, refused.stderr);
    t.regex(named[0] ?? '', /^upcat: .*blocked/);
    t.is(refused.stdout, '');

    // Replace a payload's bytes in the pool: agents refuse to install it and report the tampered
    // response (download_rejected: no backoff, not a failure of the update; issue 13 item 5).
    const tool = await j.publish(
      await markerPackage(j.work, 'Contoso Tool', '1.0'),
      manifest('Contoso Tool', '1.0'),
    );
    await j.approve(tool.updateId);
    const poolFile = path.join(ctx.home, 'packages', 'pool', tool.sha256.slice(0, 2), tool.sha256);
    const bytes = await readFile(poolFile);
    bytes[bytes.length - 30] = (bytes[bytes.length - 30] ?? 0) ^ 0xff;
    await chmod(poolFile, 0o644);
    await writeFile(poolFile, bytes);
    const tampered = await Promise.all([has1, arm].map((e) => e.run(proxy.url)));
    for (const [i, e] of [has1, arm].entries()) {
      const run = tampered[i] as AgentRun;
      t.false(run.timedOut);
      t.is(run.code, 2, `${e.name}: ${run.stderr}`);
      t.regex(run.stderr, /do not match the SHA-256 of the signed catalog/);
      t.is(stateOf(run, tool.updateId), 'download_rejected');
      t.false((await e.markers()).includes(markerOf('Contoso Tool', '1.0')), e.name);
      const failed = (await j.history(idOf(e), tool.updateId)).filter(
        (h) => h.state === 'download_rejected',
      );
      t.is(failed.length, 1, e.name);
      t.regex(
        failed[0]?.detail ?? '',
        new RegExp(`payload ${tool.sha256}: downloaded bytes do not match`),
      );
    }
    t.like(await j.revision(tool.updateId), { failed: 0, installed: 0, pending: 2 });
    // Not backed off, the tampered tool would be tried again at every cycle: withdraw it.
    await j.cli('expire', tool.updateId);

    // Stop the server mid-download: the agent fails, queues its messages, and resumes later.
    const big = 12 * 1024 * 1024; // more than loopback's socket buffers hold in flight
    const data = await j.publish(
      await markerPackage(j.work, 'Contoso Data', '1.0', { 'data.bin': randomBytes(big) }),
      manifest('Contoso Data', '1.0'),
    );
    await j.approve(data.updateId);
    proxy.rate = 2 * 1024 * 1024;
    const cutRun = arm.run(proxy.url);
    await proxy.whenForwarded(data.sha256, 1024 * 1024, 90_000);
    await server.kill(); // SIGKILL: SIGTERM would let the download finish
    const cut = await cutRun;
    t.false(cut.timedOut);
    t.is(cut.code, 1, cut.stderr);
    t.regex(cut.stderr, /^upcat: cannot reach the site at /m);
    const partial = (await stat(path.join(arm.stateDir, 'downloads', `${data.sha256}.partial`)))
      .size;
    t.true(partial > 0 && partial < data.size, `${partial} of ${data.size}`);
    const outbox = path.join(arm.stateDir, 'outbox.json');
    const queued = JSON.parse(await readFile(outbox, 'utf8')) as Array<{
      id: string;
      topic: string;
      updateId?: string;
      state: string;
    }>;
    t.deepEqual(
      queued.map((m) => [m.topic, m.updateId ?? null, m.state]),
      [
        ['update', data.updateId, 'downloading'],
        ['client', null, 'cannot_reach_site'],
      ],
    );

    proxy.rate = undefined;
    server = await startServe(ctx.env, server.port);
    const back = await arm.run(proxy.url);
    succeeded(t, back, 'arm, after the outage');
    t.is(stateOf(back, data.updateId), 'installed');
    t.true((await arm.markers()).includes(markerOf('Contoso Data', '1.0')));
    const tries = proxy.content.filter((r) => r.path === `/content/${data.sha256}`);
    t.deepEqual(
      tries.map((r) => [r.range, r.status]),
      [
        [null, 200],
        [`bytes=${partial}-`, 206],
      ],
    );
    t.deepEqual(JSON.parse(await readFile(outbox, 'utf8')), []);
    // The queued messages reached the site, under the IDs they were queued with.
    const history = await j.history(idOf(arm));
    for (const m of queued)
      t.like(
        history.find((h) => h.messageId === m.id),
        { topic: m.topic, state: m.state },
        m.state,
      );
    t.like(
      history.find((h) => h.updateId === data.updateId && h.state === 'downloaded'),
      { detail: `resumed at byte ${partial}` },
    );
    t.like(await j.revision(data.updateId), { installed: 1, failed: 0 });
    await server.stop();
  },
);

dbTestSerial(
  'agent self-upgrade: v1 installs the v2 agent build; the next cycle runs v2 and reports it',
  async (t, ctx) => {
    t.timeout(5 * 60_000);
    const j = await journey(t, ctx);
    const entry = `#!/bin/sh
exec "${process.execPath}" "${CLI}" agent --agent-version 2.0.0 "$@"
`;
    const build = await markerPackage(j.work, 'upcat-agent', '2.0.0', {
      'bin/upcat-agent': entry,
    });
    const u = await j.publish(
      build,
      manifest('upcat-agent', '2.0.0', { isInstallable: undefined }),
    );
    await j.approve(u.updateId);
    const server = await startServe(ctx.env);
    t.teardown(() => server.stop());
    const e = await endpoint(j.work, 'self', linux('x64'));

    const first = await e.run(server.url);
    succeeded(t, first, 'first cycle');
    t.is(first.report?.agentVersion, '0.1.0');
    t.is(stateOf(first, u.updateId), 'installed');
    t.deepEqual(await e.markers(), [markerOf('upcat-agent', '2.0.0')]);

    const second = await e.run(server.url);
    succeeded(t, second, 'second cycle');
    t.is(second.report?.agentVersion, '2.0.0');
    const clients = await j.cli<Array<{ clientId: string; clientVersion: string }>>(
      'clients',
      'list',
    );
    t.is(clients.find((c) => c.clientId === second.report?.clientId)?.clientVersion, '2.0.0');
    const status = await runCliWithin(
      ['agent', 'status', '--state-dir', e.stateDir, '--json'],
      process.env,
      CLI_MS,
    );
    t.like(JSON.parse(status.stdout), { agentVersion: '2.0.0', installedAgentVersion: '2.0.0' });
    await server.stop();
  },
);
