import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import dgram from 'node:dgram';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { ExecutionContext } from 'ava';
import dnsPacket from 'dns-packet';
import { pino } from 'pino';
import { runCycle, type AgentOptions, type CycleReport } from '../../src/agent/cycle.js';
import { isUnreachable } from '../../src/agent/site-client.js';
import { agentStatus } from '../../src/agent/status.js';
import { humanStatus } from '../../src/cli/commands/agent.js';
import { UpcatError } from '../../src/errors.js';
import { buildPackage } from '../../src/publish/package.js';
import { startServer } from '../../src/server/serve.js';
import { SITE_VERSION } from '../../src/version.js';
import { forwardRequest } from '../helpers/loopback-proxy.js';
import { publishFile } from '../helpers/publish.js';
import { dbTest, type SiteContext } from '../helpers/site.js';
import { makeTufFixture } from '../helpers/tuf.js';

/**
 * The agent's decision paths (issue 6, docs/AGENT.md "Deciding and installing") run through its
 * real cycle against an in-process server: uninstall, optional (flag and deadline), a client
 * pending approval, and the failure backoff on an injected clock.
 */

interface Agent {
  dir: string;
  /** The in-process server's URL. */
  url: string;
  markers: string;
  /** One cycle; `now` moves the agent's clock (deadlines, backoff). */
  cycle(over?: Partial<AgentOptions>): Promise<CycleReport>;
  /** What the installers ran, in order ("install 1.0", "uninstall 1.0"). */
  log(): Promise<string[]>;
}

async function withAgent(
  t: ExecutionContext,
  ctx: SiteContext,
  fn: (agent: Agent) => Promise<void>,
): Promise<void> {
  const running = await startServer(ctx.site, { host: '127.0.0.1', port: 0 });
  const dir = await mkdtemp(path.join(os.tmpdir(), 'upcat-agent-cycle-'));
  try {
    const inventory = path.join(dir, 'inventory.json');
    await writeFile(
      inventory,
      JSON.stringify({ platform: { name: 'linux', version: '12', architecture: 'x64' } }),
    );
    const markers = path.join(dir, 'markers');
    await mkdir(markers);
    const base: AgentOptions = {
      stateDir: path.join(dir, 'state'),
      server: running.url,
      inventory,
      hardwareId: 'hw-agent-cycle',
      name: 'pc-cycle',
      properties: { markerDir: markers },
      installOptional: false,
      handlerTimeoutMs: 60_000,
      agentVersion: SITE_VERSION,
      log: pino({ level: 'silent' }),
      env: {},
    };
    await fn({
      dir,
      url: running.url,
      markers,
      cycle: (over = {}) => runCycle({ ...base, ...over }),
      log: async () =>
        (await readFile(path.join(markers, 'log'), 'utf8').catch(() => ''))
          .split('\n')
          .filter((l) => l !== ''),
    });
  } finally {
    await running.close();
    await rm(dir, { recursive: true, force: true });
  }
  t.pass();
}

/**
 * A package whose install and uninstall scripts append to `<markerDir>/log`. With `failUnless`,
 * the install exits 1 until that file exists in the marker directory.
 */
async function scriptedPackage(
  home: string,
  product: string,
  version: string,
  failUnless?: string,
): Promise<string> {
  const dir = path.join(home, `pkg-${product}-${version}`.replace(/\s+/g, '-'));
  await mkdir(dir, { recursive: true });
  const guard =
    failUnless === undefined
      ? ''
      : `[ -f "$UPCAT_PROPERTY_markerDir/${failUnless}" ] || { echo "not ready"; exit 1; }\n`;
  await writeFile(
    path.join(dir, 'install.sh'),
    `#!/bin/sh\n${guard}echo "install $UPCAT_VERSION" >> "$UPCAT_PROPERTY_markerDir/log"\n`,
    { mode: 0o755 },
  );
  await writeFile(
    path.join(dir, 'remove.sh'),
    `#!/bin/sh\necho "uninstall $UPCAT_VERSION" >> "$UPCAT_PROPERTY_markerDir/log"\n`,
    { mode: 0o755 },
  );
  const out = path.join(home, `${path.basename(dir)}.zip`);
  await buildPackage({ dir, name: product, version, out });
  return out;
}

async function publishScripted(
  ctx: SiteContext,
  product: string,
  failUnless?: string,
): Promise<string> {
  const file = await scriptedPackage(ctx.home, product, '1.0', failUnless);
  const published = await publishFile(ctx.site, file, {
    title: `${product} 1.0`,
    product,
    classification: 'Updates',
    version: '1.0',
    handler: {
      type: 'commandLine',
      program: 'install.sh',
      uninstall: { program: 'remove.sh' },
    },
    isInstallable: { Platform: { Name: 'linux' } },
  });
  return published.updateId;
}

const resultOf = (report: CycleReport, updateId: string) =>
  report.results.find((r) => r.updateId === updateId);

async function siteStates(ctx: SiteContext, clientId: string, updateId: string) {
  return (await ctx.site.reports.clientHistory(clientId))
    .filter((m) => m.updateId === updateId)
    .map((m) => m.state)
    .sort();
}

dbTest(
  'agent: an uninstall deployment runs the handler uninstall once and reports it',
  async (t, ctx) => {
    ctx.site.config.site.approval = 'auto-all';
    const updateId = await publishScripted(ctx, 'Contoso Removable');
    await ctx.site.deployments.approve(
      { updateId, group: 'All Computers', action: 'install' },
      'test',
    );
    await withAgent(t, ctx, async (agent) => {
      const first = await agent.cycle();
      t.is(resultOf(first, updateId)?.state, 'installed');
      t.deepEqual(await agent.log(), ['install 1.0']);

      await ctx.site.deployments.approve(
        { updateId, group: 'All Computers', action: 'uninstall' },
        'test',
      );
      const removal = await agent.cycle();
      t.is(removal.sync, 'incremental');
      t.is(resultOf(removal, updateId)?.state, 'uninstalled');
      t.deepEqual(await agent.log(), ['install 1.0', 'uninstall 1.0']);
      const status = await agentStatus(path.join(agent.dir, 'state'));
      t.deepEqual(status.installed, []);
      t.deepEqual(status.pending, []);
      t.true((await siteStates(ctx, first.clientId ?? '', updateId)).includes('uninstalled'));

      // Nothing is left to remove: the next cycle runs no handler and sends nothing new.
      const after = await agent.cycle();
      t.is(resultOf(after, updateId), undefined);
      t.deepEqual(await agent.log(), ['install 1.0', 'uninstall 1.0']);
      t.is(after.messagesSent, 0);
    });
  },
);

dbTest(
  'agent: an optional deployment waits; --install-optional or a passed deadline installs it',
  async (t, ctx) => {
    ctx.site.config.site.approval = 'auto-all';
    const flagged = await publishScripted(ctx, 'Contoso Flagged');
    const timed = await publishScripted(ctx, 'Contoso Timed');
    const deadline = new Date(Date.now() + 24 * 60 * 60 * 1000);
    await ctx.site.deployments.approve(
      { updateId: flagged, group: 'All Computers', action: 'optional' },
      'test',
    );
    await ctx.site.deployments.approve(
      {
        updateId: timed,
        group: 'All Computers',
        action: 'optional',
        deadline: deadline.toISOString(),
      },
      'test',
    );
    await withAgent(t, ctx, async (agent) => {
      const normal = await agent.cycle();
      t.is(resultOf(normal, flagged)?.state, 'waiting');
      t.is(resultOf(normal, timed)?.state, 'waiting');
      t.deepEqual(await agent.log(), []);
      t.is(
        (await agentStatus(path.join(agent.dir, 'state'))).pending.length,
        2,
        'both are pending',
      );

      // The deadline has passed (the agent's clock, a day on): that one installs, the other waits.
      const late = await agent.cycle({ now: () => new Date(deadline.getTime() + 60_000) });
      t.is(resultOf(late, timed)?.state, 'installed');
      t.is(resultOf(late, flagged)?.state, 'waiting');
      t.deepEqual(await agent.log(), ['install 1.0']);

      const asked = await agent.cycle({ installOptional: true });
      t.is(resultOf(asked, flagged)?.state, 'installed');
      t.is(resultOf(asked, timed), undefined, 'already installed: nothing to do');
      t.deepEqual(await agent.log(), ['install 1.0', 'install 1.0']);
      const status = await agentStatus(path.join(agent.dir, 'state'));
      t.deepEqual(status.installed.map((i) => i.updateId).sort(), [flagged, timed].sort());
    });
  },
);

dbTest(
  'agent: a client pending approval syncs, gets no deployments, installs nothing, and says so',
  async (t, ctx) => {
    ctx.site.config.site.approval = 'manual';
    const updateId = await publishScripted(ctx, 'Contoso Gated');
    await ctx.site.deployments.approve(
      { updateId, group: 'All Computers', action: 'install' },
      'test',
    );
    await withAgent(t, ctx, async (agent) => {
      const pending = await agent.cycle();
      t.is(pending.status, 'pending');
      t.is(pending.sync, 'full');
      t.deepEqual(pending.results, []);
      t.deepEqual(await agent.log(), []);
      const status = await agentStatus(path.join(agent.dir, 'state'));
      t.is(status.approval, 'pending');
      t.regex(status.note ?? '', /waiting for approval/);
      t.deepEqual(status.pending, [], 'no deployment policy reached the agent');
      t.not(status.lastSync, null);

      await ctx.site.clients.approve(pending.clientId ?? '', 'test');
      const approved = await agent.cycle();
      t.is(approved.status, 'approved');
      t.is(resultOf(approved, updateId)?.state, 'installed');
      t.deepEqual(await agent.log(), ['install 1.0']);
      const after = await agentStatus(path.join(agent.dir, 'state'));
      t.is(after.approval, 'approved');
      t.is(after.note, null);
    });
  },
);

dbTest(
  'agent: a failed install backs off (not retried before its time) and is retried after it',
  async (t, ctx) => {
    ctx.site.config.site.approval = 'auto-all';
    const updateId = await publishScripted(ctx, 'Contoso Flaky', 'fixed');
    await ctx.site.deployments.approve(
      { updateId, group: 'All Computers', action: 'install' },
      'test',
    );
    await withAgent(t, ctx, async (agent) => {
      const start = Date.now();
      const at = (minutes: number) => () => new Date(start + minutes * 60_000);
      const failed = await agent.cycle({ now: at(0) });
      t.is(resultOf(failed, updateId)?.state, 'failed');
      t.is(resultOf(failed, updateId)?.code, 1);
      let status = await agentStatus(path.join(agent.dir, 'state'));
      t.like(status.failed[0], { updateId, attempts: 1 });
      t.is(status.failed[0]?.retryAfter, new Date(start + 5 * 60_000).toISOString());
      t.deepEqual(await siteStates(ctx, failed.clientId ?? '', updateId), [
        'downloaded',
        'downloading',
        'failed',
        'installing',
      ]);

      // Fixed on the machine, but the backoff has not run out: the installer does not run.
      await writeFile(path.join(agent.markers, 'fixed'), '');
      const early = await agent.cycle({ now: at(4) });
      t.is(resultOf(early, updateId)?.state, 'retry_later');
      t.deepEqual(await agent.log(), []);
      t.is(early.messagesSent, 0);

      // Past the backoff: retried, and it installs.
      const retried = await agent.cycle({ now: at(6) });
      t.is(resultOf(retried, updateId)?.state, 'installed');
      t.deepEqual(await agent.log(), ['install 1.0']);
      status = await agentStatus(path.join(agent.dir, 'state'));
      t.deepEqual(status.failed, []);
      t.is(status.installed[0]?.updateId, updateId);
    });
  },
);

dbTest('agent: the backoff doubles with each failure', async (t, ctx) => {
  ctx.site.config.site.approval = 'auto-all';
  const updateId = await publishScripted(ctx, 'Contoso Broken', 'never');
  await ctx.site.deployments.approve(
    { updateId, group: 'All Computers', action: 'install' },
    'test',
  );
  await withAgent(t, ctx, async (agent) => {
    const start = Date.now();
    const at = (minutes: number) => () => new Date(start + minutes * 60_000);
    await agent.cycle({ now: at(0) });
    await agent.cycle({ now: at(6) }); // second failure: 10 minutes
    const status = await agentStatus(path.join(agent.dir, 'state'));
    t.like(status.failed[0], { attempts: 2 });
    t.is(status.failed[0]?.retryAfter, new Date(start + 16 * 60_000).toISOString());
    t.is(resultOf(await agent.cycle({ now: at(15) }), updateId)?.state, 'retry_later');
    t.is(resultOf(await agent.cycle({ now: at(17) }), updateId)?.state, 'failed');
  });
});

/** A port nothing listens on (a stopped server). */
async function stoppedPort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

/**
 * A pass-through proxy to `upstream`; a request whose path `refuse` matches has its connection
 * dropped, as if that part of the site were a stopped server. Records every path requested.
 */
async function proxy(upstream: string) {
  const target = new URL(upstream);
  const ctl = {
    url: '',
    refuse: (_path: string): boolean => false,
    paths: [] as string[],
    close: async (): Promise<void> => undefined,
  };
  const server = http.createServer((req, res) => {
    const p = req.url ?? '';
    ctl.paths.push(p);
    if (ctl.refuse(p)) {
      req.socket.destroy();
      return;
    }
    forwardRequest(target, req, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  ctl.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  ctl.close = () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return ctl;
}

const codeOf = (err: unknown): string | undefined =>
  err instanceof UpcatError ? err.code : undefined;

dbTest(
  'agent: a blocked client and a refused registration reach the fallback status point report',
  async (t, ctx) => {
    ctx.site.config.site.approval = 'auto-all';
    await withAgent(t, ctx, async (agent) => {
      const first = await agent.cycle();
      await ctx.site.clients.block(first.clientId ?? '', 'test');
      const blocked = await t.throwsAsync(agent.cycle());
      t.is(codeOf(blocked), 'client_blocked');
      let report = await ctx.site.reports.clientInstallFailures();
      t.is(report.length, 1);
      t.like(report[0], { hardwareId: 'hw-agent-cycle', name: 'pc-cycle', code: 403, failures: 1 });
      t.regex(report[0]?.detail ?? '', /blocked/);
      const status = await agentStatus(path.join(agent.dir, 'state'));
      t.is(status.queuedMessages, 0, 'the message went out');
      t.regex(status.lastError ?? '', /client_blocked/);

      // A machine with no state yet, on the blocked hardware: its registration is refused.
      const fresh = await t.throwsAsync(
        agent.cycle({ stateDir: path.join(agent.dir, 'fresh'), name: 'pc-clone' }),
      );
      t.is(codeOf(fresh), 'client_blocked');
      report = await ctx.site.reports.clientInstallFailures();
      t.like(report, [{ hardwareId: 'hw-agent-cycle', name: 'pc-clone', code: 403, failures: 2 }]);
      const rows = (await ctx.site
        .db('state_messages')
        .where({ state: 'client_install_failed' })
        .select('authenticated', 'client_id')) as Array<{
        authenticated: unknown;
        client_id: unknown;
      }>;
      t.is(rows.length, 2);
      t.true(rows.every((r) => !r.authenticated && r.client_id === null));
    });
  },
);

dbTest(
  'agent: an incompatible site is reported to the fallback status point before registering',
  async (t, ctx) => {
    ctx.site.config.site.minimumClientVersion = '99.0.0';
    await withAgent(t, ctx, async (agent) => {
      const err = await t.throwsAsync(agent.cycle());
      t.is(codeOf(err), 'incompatible_site');
      t.regex(err?.message ?? '', /below the site's minimum client version 99\.0\.0/);
      const report = await ctx.site.reports.clientInstallFailures();
      t.like(report, [{ hardwareId: 'hw-agent-cycle', name: 'pc-cycle', code: null, failures: 1 }]);
      t.regex(report[0]?.detail ?? '', /minimum client version/);
      t.is(
        await ctx.site
          .db('clients')
          .count({ n: '*' })
          .first()
          .then((r) => Number(r?.['n'])),
        0,
      );
    });
  },
);

dbTest(
  'agent: a site that cannot be reached is reported to a separately configured fallback status point',
  async (t, ctx) => {
    await withAgent(t, ctx, async (agent) => {
      const port = await stoppedPort();
      const err = await t.throwsAsync(
        agent.cycle({
          server: `http://127.0.0.1:${port}`,
          fallbackStatusPoint: `${agent.url}/`,
        }),
      );
      t.true(isUnreachable(err));
      const rows = (await ctx.site
        .db('state_messages')
        .where({ state: 'cannot_reach_site' })
        .select('authenticated', 'hardware_id', 'topic', 'detail')) as Array<
        Record<string, unknown>
      >;
      t.is(rows.length, 1);
      t.like(rows[0], { hardware_id: 'hw-agent-cycle', topic: 'client' });
      t.false(Boolean(rows[0]?.['authenticated']));
      t.regex(
        String(rows[0]?.['detail']),
        new RegExp(`cannot reach the site at http://127\\.0\\.0\\.1:${port}`),
      );
      t.is((await agentStatus(path.join(agent.dir, 'state'))).queuedMessages, 0);
    });
  },
);

dbTest(
  'agent: TUF metadata that cannot be fetched is "site unreachable": queued message, no update backoff',
  async (t, ctx) => {
    ctx.site.config.site.approval = 'auto-all';
    await withAgent(t, ctx, async (agent) => {
      const via = await proxy(agent.url);
      t.teardown(via.close);
      t.truthy((await agent.cycle({ server: via.url })).clientId);
      const updateId = await publishScripted(ctx, 'Contoso Later');
      await ctx.site.deployments.approve(
        { updateId, group: 'All Computers', action: 'install' },
        'test',
      );
      // The client routes answer; the TUF snapshot and targets (fetched inside tuf-js) do not.
      via.refuse = (p) => /^\/tuf\/.*(snapshot|targets|bins)/.test(p);
      const err = await t.throwsAsync(agent.cycle({ server: via.url }));
      t.true(isUnreachable(err), `${err?.name}: ${err?.message}`);
      t.regex(err?.message ?? '', /cannot reach the site/);
      t.true(via.paths.some((p) => /^\/tuf\/\d+\.snapshot\.json$/.test(p)));
      const clientId = (await agentStatus(path.join(agent.dir, 'state'))).clientId ?? '';
      const history = await ctx.site.reports.clientHistory(clientId);
      t.true(
        history.some((m) => m.topic === 'client' && m.state === 'cannot_reach_site'),
        'the message went out over /v1/status, which answers',
      );
      const status = await agentStatus(path.join(agent.dir, 'state'));
      t.deepEqual(status.failed, [], 'an outage is not a failure of the update');

      via.refuse = () => false;
      const back = await agent.cycle({ server: via.url });
      t.is(resultOf(back, updateId)?.state, 'installed');
    });
  },
);

/** Publishes a scripted package under a chosen update ID (to pick how IDs sort). */
async function publishWithId(
  ctx: SiteContext,
  updateId: string,
  product: string,
  version: string,
  over: Record<string, unknown> = {},
  failUnless?: string,
): Promise<string> {
  const file = await scriptedPackage(ctx.home, product, version, failUnless);
  await publishFile(ctx.site, file, {
    updateId,
    title: `${product} ${version}`,
    product,
    classification: 'Updates',
    version,
    handler: { type: 'commandLine', program: 'install.sh', uninstall: { program: 'remove.sh' } },
    isInstallable: { Platform: { Name: 'linux' } },
    ...over,
  });
  await ctx.site.deployments.approve(
    { updateId, group: 'All Computers', action: 'install' },
    'test',
  );
  return updateId;
}

// The prerequisite's ID sorts after the dependent's: installing in ID order would be wrong.
const DEPENDENT = '00000000-0000-4000-8000-00000000000d';
const PREREQUISITE = 'f0000000-0000-4000-8000-00000000000f';

dbTest(
  'agent: a prerequisite installs before what needs it, even when its ID sorts later',
  async (t, ctx) => {
    ctx.site.config.site.approval = 'auto-all';
    await publishWithId(ctx, PREREQUISITE, 'Contoso Runtime', '7.0');
    await publishWithId(ctx, DEPENDENT, 'Contoso App', '2.0', {
      prerequisites: [[PREREQUISITE]],
    });
    await withAgent(t, ctx, async (agent) => {
      const report = await agent.cycle();
      t.deepEqual(await agent.log(), ['install 7.0', 'install 2.0']);
      t.deepEqual(
        report.results.map((r) => [r.updateId, r.state]),
        [
          [PREREQUISITE, 'installed'],
          [DEPENDENT, 'installed'],
        ],
      );
    });
  },
);

dbTest(
  'agent: a failed prerequisite fails what needs it, and the site hears "failed" for both',
  async (t, ctx) => {
    ctx.site.config.site.approval = 'auto-all';
    await publishWithId(ctx, PREREQUISITE, 'Contoso Runtime', '7.0', {}, 'never');
    await publishWithId(ctx, DEPENDENT, 'Contoso App', '2.0', {
      prerequisites: [[PREREQUISITE]],
    });
    await withAgent(t, ctx, async (agent) => {
      const report = await agent.cycle();
      t.deepEqual(await agent.log(), [], 'neither installer wrote its marker');
      t.is(resultOf(report, PREREQUISITE)?.state, 'failed');
      t.is(resultOf(report, DEPENDENT)?.state, 'failed');
      t.is(resultOf(report, DEPENDENT)?.detail, `prerequisite ${PREREQUISITE} is not installed`);
      const clientId = report.clientId ?? '';
      t.deepEqual(await siteStates(ctx, clientId, DEPENDENT), ['failed']);
      t.deepEqual(await siteStates(ctx, clientId, PREREQUISITE), [
        'downloaded',
        'downloading',
        'failed',
        'installing',
      ]);
      const history = await ctx.site.reports.clientHistory(clientId);
      t.regex(
        history.find((m) => m.updateId === DEPENDENT && m.state === 'failed')?.detail ?? '',
        /prerequisite f0000000-0000-4000-8000-00000000000f is not installed/,
      );
    });
  },
);

dbTest(
  'agent: a policy whose payload size disagrees with the signed catalog is refused and reported, before any download',
  async (t, ctx) => {
    ctx.site.config.site.approval = 'auto-all';
    const updateId = await publishScripted(ctx, 'Contoso Tampered');
    await ctx.site.deployments.approve(
      { updateId, group: 'All Computers', action: 'install' },
      'test',
    );
    // The database (what policy is computed from) no longer matches the signed document.
    const [row] = (await ctx.site.db('files').select('size')) as Array<{ size: number | string }>;
    const size = Number(row?.size);
    await ctx.site.db('files').update({ size: size + 1 });
    await withAgent(t, ctx, async (agent) => {
      const via = await proxy(agent.url);
      t.teardown(via.close);
      const report = await agent.cycle({ server: via.url });
      const r = resultOf(report, updateId);
      t.is(r?.state, 'failed');
      t.regex(
        r?.detail ?? '',
        new RegExp(
          `policy and signed catalog disagree: payload [0-9a-f]{64}: policy says ${size + 1} bytes, the document ${size}$`,
        ),
      );
      t.false(
        via.paths.some((p) => p.startsWith('/content/')),
        'nothing was downloaded',
      );
      t.deepEqual(await readdir(path.join(agent.dir, 'state', 'downloads')).catch(() => []), []);
      t.deepEqual(await agent.log(), []);
      t.deepEqual(await siteStates(ctx, report.clientId ?? '', updateId), ['failed']);
    });
  },
);

dbTest(
  'agent: a TUF root pinned at install is used (not first-use trust); a mismatched root is refused',
  async (t, ctx) => {
    ctx.site.config.site.approval = 'auto-all';
    const updateId = await publishScripted(ctx, 'Contoso Pinned');
    await ctx.site.deployments.approve(
      { updateId, group: 'All Computers', action: 'install' },
      'test',
    );
    const other = await makeTufFixture();
    t.teardown(other.close);
    await other.publish({ 'a.txt': 'a' });
    await withAgent(t, ctx, async (agent) => {
      const rootFile = path.join(agent.dir, 'root.json');
      const res = await fetch(`${agent.url}/tuf/1.root.json`);
      await writeFile(rootFile, Buffer.from(await res.arrayBuffer()));
      const foreign = path.join(agent.dir, 'foreign-root.json');
      await writeFile(foreign, JSON.stringify(await other.readJson('1.root.json')));
      const anchor = async () =>
        JSON.parse(await readFile(path.join(agent.dir, 'state', 'tuf', 'anchor.json'), 'utf8')) as {
          source: string;
        };

      // Provisioned in agent.json (relative to the state dir), as an installer would write it.
      const stateDir = path.join(agent.dir, 'pinned');
      await mkdir(stateDir, { mode: 0o700 });
      await writeFile(path.join(stateDir, 'root.json'), await readFile(rootFile));
      await writeFile(path.join(stateDir, 'agent.json'), JSON.stringify({ root: 'root.json' }));
      const pinned = await agent.cycle({ stateDir, hardwareId: 'hw-pinned' });
      t.is(resultOf(pinned, updateId)?.state, 'installed');
      t.false(pinned.warnings.some((w) => /first use/.test(w)));

      // Without a root: first-use trust, and the report says so.
      const tofu = await agent.cycle();
      t.true(tofu.warnings.some((w) => /trusted the site TUF root on first use/.test(w)));
      t.is((await anchor()).source, 'first use');

      // A root of another repository (other keys): the site's metadata does not verify.
      const err = await t.throwsAsync(agent.cycle({ root: foreign }));
      t.is(codeOf(err), 'integrity');
      t.regex(
        err?.message ?? '',
        /the signed catalog \(TUF\) does not verify from the trusted root/,
      );
      t.is((await anchor()).source, 'provisioned', 'a given root replaces first-use trust');
      const clientId = tofu.clientId ?? '';
      const history = await ctx.site.reports.clientHistory(clientId);
      t.true(
        history.some(
          (m) => m.topic === 'client' && m.state === 'failed' && /TUF/.test(m.detail ?? ''),
        ),
      );

      // The right root given again: trust restarts from it and the cycle works.
      const good = await agent.cycle({ root: rootFile });
      t.false(good.warnings.some((w) => /first use/.test(w)));
      t.is((await anchor()).source, 'provisioned');
    });
  },
);

dbTest(
  'agent status: installed, already installed, not applicable, pending, failed, last error (JSON and text)',
  async (t, ctx) => {
    ctx.site.config.site.approval = 'auto-all';
    const fresh = await publishScripted(ctx, 'Contoso Fresh');
    const present = await publishWithId(
      ctx,
      '10000000-0000-4000-8000-000000000001',
      'Contoso Present',
      '1.0',
      { isInstalled: { FileExists: { Path: '/opt/present/1.0' } } },
    );
    const windows = await publishWithId(
      ctx,
      '20000000-0000-4000-8000-000000000002',
      'Contoso Windows',
      '1.0',
      { isInstallable: { Platform: { Name: 'windows' } } },
    );
    const broken = await publishWithId(
      ctx,
      '30000000-0000-4000-8000-000000000003',
      'Contoso Broken',
      '1.0',
      {},
      'never',
    );
    const later = await publishScripted(ctx, 'Contoso Optional');
    for (const [updateId, action] of [
      [fresh, 'install'],
      [later, 'optional'],
    ] as const)
      await ctx.site.deployments.approve({ updateId, group: 'All Computers', action }, 'test');
    await withAgent(t, ctx, async (agent) => {
      const inventory = path.join(agent.dir, 'present.json');
      await writeFile(
        inventory,
        JSON.stringify({
          platform: { name: 'linux', version: '12', architecture: 'x64' },
          files: { '/opt/present/1.0': { size: 1 } },
        }),
      );
      const report = await agent.cycle({ inventory });
      t.is(resultOf(report, present)?.state, 'already_installed');
      t.is(resultOf(report, windows)?.state, 'not_applicable');
      await agent.cycle({ inventory }); // a second cycle: not applicable is still not pending

      const stateDir = path.join(agent.dir, 'state');
      const s = await agentStatus(stateDir);
      t.is(s.server, agent.url);
      t.is(s.siteCode, 'UPC');
      t.not(s.lastSync, null);
      t.true(Date.parse(s.lastSync ?? '') > Date.now() - 60_000);
      t.deepEqual(
        s.installed.map((i) => [i.updateId, i.state]).sort(),
        [
          [fresh, 'installed'],
          [present, 'already_installed'],
        ].sort(),
      );
      t.deepEqual(
        s.notApplicable.map((n) => n.updateId),
        [windows],
      );
      t.regex(s.notApplicable[0]?.reason ?? '', /^installable: false/);
      t.deepEqual(s.pending, [
        { updateId: later, revision: 1, action: 'optional', deadline: null },
      ]);
      t.deepEqual(
        s.failed.map((f) => [f.updateId, f.attempts, f.code]),
        [[broken, 1, 1]],
      );
      t.is(s.lastError, null, 'the cycle itself worked');

      // A cycle that fails leaves its error.
      await ctx.site.clients.block(s.clientId ?? '', 'test');
      await t.throwsAsync(agent.cycle({ inventory }));
      const after = await agentStatus(stateDir);
      t.regex(after.lastError ?? '', /client_blocked/);

      const text = humanStatus(after);
      t.regex(text, new RegExp(`^site: UPC at ${agent.url.replace(/\./g, '\\.')}$`, 'm'));
      t.regex(text, /^last sync: \d{4}-\d\d-\d\dT/m);
      t.regex(
        text,
        new RegExp(`^  Contoso Present 1\\.0 \\(${present} rev 1\\) already installed$`, 'm'),
      );
      t.regex(text, new RegExp(`^  Contoso Fresh 1\\.0 \\(${fresh} rev 1\\)$`, 'm'));
      t.regex(text, new RegExp(`^not applicable: \\n  ${windows} rev 1: `, 'm'));
      t.regex(text, new RegExp(`^pending: \\n  optional ${later} rev 1$`, 'm'));
      t.regex(text, new RegExp(`^failed: \\n  ${broken} rev 1: exit code 1`, 'm'));
      t.regex(text, /^last error: .*client_blocked/m);
    });
  },
);

/**
 * A tiny DNS server on UDP: answers `SRV` questions for `name` with `records`, anything else
 * with NXDOMAIN. Records each question.
 */
async function dnsServer(name: string, records: dnsPacket.SrvData[]) {
  const questions: string[] = [];
  const socket = dgram.createSocket('udp4');
  socket.on('message', (msg, from) => {
    const query = dnsPacket.decode(msg);
    const q = query.questions?.[0];
    questions.push(`${q?.type ?? '?'} ${q?.name ?? '?'}`);
    const hit = q?.type === 'SRV' && q.name.toLowerCase() === name;
    const answer = dnsPacket.encode({
      type: 'response',
      id: query.id ?? 0,
      flags: dnsPacket.AUTHORITATIVE_ANSWER | (hit ? 0 : 3), // rcode 3: NXDOMAIN
      questions: query.questions ?? [],
      answers: hit ? records.map((data) => ({ type: 'SRV', name, ttl: 5, data })) : [],
    });
    socket.send(answer, from.port, from.address);
  });
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
  return {
    address: `127.0.0.1:${socket.address().port}`,
    questions,
    close: () => new Promise<void>((r) => socket.close(() => r())),
  };
}

dbTest(
  'agent: DNS SRV discovery through a named DNS server, trying the next target when one does not answer',
  async (t, ctx) => {
    await withAgent(t, ctx, async (agent) => {
      const port = Number(new URL(agent.url).port);
      const dead = await stoppedPort();
      const dns = await dnsServer('_upcat._tcp.corp.test', [
        { priority: 0, weight: 10, port: dead, target: '127.0.0.1' },
        { priority: 10, weight: 10, port, target: '127.0.0.1' },
      ]);
      t.teardown(dns.close);
      const report = await agent.cycle({
        server: undefined,
        domain: 'corp.test',
        dnsServers: [dns.address],
      });
      t.is(report.source, 'dns srv');
      t.is(report.server, `http://127.0.0.1:${port}`);
      t.truthy(report.clientId);
      t.deepEqual(dns.questions, ['SRV _upcat._tcp.corp.test']);
      t.is((await agentStatus(path.join(agent.dir, 'state'))).server, `http://127.0.0.1:${port}`);
    });
  },
);

dbTest(
  'agent: an install deployment waits for the maintenance window, and installs at its deadline regardless',
  async (t, ctx) => {
    ctx.site.config.site.approval = 'auto-all';
    const timed = await publishScripted(ctx, 'Contoso Windowed Deadline');
    const open = await publishScripted(ctx, 'Contoso Windowed');
    const t0 = Date.now();
    const hour = 3_600_000;
    // Every day, an hour from six hours on (to the minute): closed now, and again at t0 + 12h.
    const start = new Date(t0 + 6 * hour).toISOString().slice(11, 16);
    await ctx.site.maintenanceWindows.set(
      'All Computers',
      {
        windows: [
          { days: ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'], start, duration: '1h' },
        ],
      },
      'test',
    );
    const deadline = new Date(t0 + 12 * hour).toISOString();
    await ctx.site.deployments.approve(
      { updateId: timed, group: 'All Computers', action: 'install', deadline },
      'test',
    );
    await ctx.site.deployments.approve(
      { updateId: open, group: 'All Computers', action: 'install' },
      'test',
    );
    await withAgent(t, ctx, async (agent) => {
      const closed = await agent.cycle({ now: () => new Date(t0) });
      t.is(resultOf(closed, timed)?.state, 'waiting');
      t.regex(
        resultOf(closed, timed)?.detail ?? '',
        /maintenance window: closed; next opens .*deadline/,
      );
      t.is(resultOf(closed, open)?.state, 'waiting');
      t.deepEqual(await agent.log(), [], 'nothing installs outside the window');

      // Past the deadline, the window closed again: the one with a deadline installs anyway.
      const late = await agent.cycle({ now: () => new Date(t0 + 12 * hour + 60_000) });
      t.is(resultOf(late, timed)?.state, 'installed');
      t.is(resultOf(late, open)?.state, 'waiting');

      // Inside the next day's window, the one without a deadline installs.
      const inside = await agent.cycle({ now: () => new Date(t0 + 30 * hour + 30 * 60_000) });
      t.is(resultOf(inside, open)?.state, 'installed');
      t.deepEqual(await agent.log(), ['install 1.0', 'install 1.0']);
    });
  },
);
