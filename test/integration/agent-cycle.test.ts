import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { ExecutionContext } from 'ava';
import { pino } from 'pino';
import { runCycle, type AgentOptions, type CycleReport } from '../../src/agent/cycle.js';
import { agentStatus } from '../../src/agent/status.js';
import { buildPackage } from '../../src/publish/package.js';
import { startServer } from '../../src/server/serve.js';
import { SITE_VERSION } from '../../src/version.js';
import { publishFile } from '../helpers/publish.js';
import { dbTest, type SiteContext } from '../helpers/site.js';

/**
 * The agent's decision paths (issue 6, docs/AGENT.md "Deciding and installing") run through its
 * real cycle against an in-process server: uninstall, optional (flag and deadline), a client
 * pending approval, and the failure backoff on an injected clock.
 */

interface Agent {
  dir: string;
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
