import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { runCycle, type AgentOptions } from '../../src/agent/cycle.js';
import { coded } from '../../src/cli/commands/agent.js';
import { isUpcatError } from '../../src/errors.js';
import { buildPackage } from '../../src/publish/package.js';
import { startServer } from '../../src/server/serve.js';
import { createEnrollmentToken } from '../../src/site/enrollment.js';
import { SITE_VERSION } from '../../src/version.js';
import { registration } from '../helpers/clients.js';
import { publishFile } from '../helpers/publish.js';
import { dbTest } from '../helpers/site.js';

/**
 * The agent's side of identity that fails safe (issue 13 items 4 and 7): it remembers the
 * identity flags it was given, re-registers by itself when told its record was replaced, and its
 * one-line refusal names the code.
 */
dbTest(
  'agent: remembers --hardware-id and --group; a replaced record re-registers by itself',
  async (t, ctx) => {
    const { site } = ctx;
    site.config.site.approval = 'auto-all';
    await site.groups.create('ring1', 'test');
    const running = await startServer(site, { host: '127.0.0.1', port: 0 });
    const dir = await mkdtemp(path.join(os.tmpdir(), 'upcat-agent-identity-'));
    try {
      const inventory = path.join(dir, 'inventory.json');
      await writeFile(
        inventory,
        JSON.stringify({ platform: { name: 'linux', version: '12', architecture: 'x64' } }),
      );
      const base: AgentOptions = {
        stateDir: path.join(dir, 'state'),
        server: running.url,
        inventory,
        properties: {},
        installOptional: false,
        handlerTimeoutMs: 60_000,
        agentVersion: SITE_VERSION,
        log: pino({ level: 'silent' }),
        env: {},
      };
      const first = await runCycle({ ...base, hardwareId: 'hw-flag', group: 'ring1' });
      t.is(first.status, 'approved');
      // The next run forgets the flags: the same record, the same group.
      const second = await runCycle(base);
      t.is(second.clientId, first.clientId);
      const records = await site.clients.list();
      t.is(records.length, 1, 'no second registration under a derived hardware ID');
      t.is(records[0]?.hardwareId, 'hw-flag');
      t.deepEqual(records[0]?.groups, ['ring1']);
      const state = JSON.parse(await readFile(path.join(dir, 'state', 'state.json'), 'utf8')) as {
        identity: Record<string, string>;
      };
      t.like(state.identity, { hardwareId: 'hw-flag', group: 'ring1' });

      // Another registration that proves the machine (an enrollment token) replaces the record.
      const { token } = await createEnrollmentToken(site.db, { name: 'lab', actor: 'test' });
      const other = await site.registration.register(
        registration({ hardwareId: 'hw-flag', enrollmentToken: token }),
      );
      const third = await runCycle(base);
      t.not(third.clientId, first.clientId);
      t.true(third.warnings.some((w) => /client_replaced/.test(w)));
      // The new registration cannot prove it is the machine: it waits as a conflict with the
      // record that replaced it, which keeps working.
      t.is(third.status, 'conflict');
      t.is((await site.clients.get(other.clientId)).recordState, 'active');
      t.is((await site.clients.get(third.clientId ?? '')).conflictWith, other.clientId);
    } finally {
      await running.close();
      await rm(dir, { recursive: true, force: true });
    }
  },
);

dbTest('agent: a refusal it decides itself names its code too', async (t, ctx) => {
  ctx.site.config.site.minimumClientVersion = '99.0';
  const running = await startServer(ctx.site, { host: '127.0.0.1', port: 0 });
  const dir = await mkdtemp(path.join(os.tmpdir(), 'upcat-agent-identity-'));
  try {
    const err = await t.throwsAsync(
      runCycle({
        stateDir: path.join(dir, 'state'),
        server: running.url,
        hardwareId: 'hw-old',
        properties: {},
        installOptional: false,
        handlerTimeoutMs: 60_000,
        agentVersion: '1.0.0',
        log: pino({ level: 'silent' }),
        env: {},
      }),
    );
    t.true(isUpcatError(err));
    const line = (coded(err) as Error).message;
    t.regex(line, /below the site's minimum client version 99\.0.*\(incompatible_site\)$/);
    // A message that already ends with its code is not given it twice.
    t.is((coded(coded(err)) as Error).message, line);
  } finally {
    await running.close();
    await rm(dir, { recursive: true, force: true });
  }
});

dbTest(
  'agent: a tampered payload response is reported and retried next cycle, not backed off',
  async (t, ctx) => {
    const { site } = ctx;
    site.config.site.approval = 'auto-all';
    const dir = await mkdtemp(path.join(os.tmpdir(), 'upcat-agent-tamper-'));
    const pkg = path.join(dir, 'pkg');
    await mkdir(pkg);
    await writeFile(path.join(pkg, 'install.sh'), '#!/bin/sh\necho installed\n', { mode: 0o755 });
    const zip = path.join(dir, 'tool.zip');
    await buildPackage({ dir: pkg, name: 'Tamper Tool', version: '1.0', out: zip });
    const published = await publishFile(site, zip, {
      title: 'Tamper Tool 1.0',
      product: 'Tamper Tool',
      classification: 'Updates',
      version: '1.0',
      handler: { type: 'commandLine', program: 'install.sh' },
      isInstallable: { Platform: { Name: 'linux' } },
    });
    await site.deployments.approve(
      { updateId: published.updateId, group: 'All Computers', action: 'install' },
      'test',
    );
    // Someone on the path (here: the pool itself) answers other bytes of the same length.
    const pooled = site.pool.pathOf(published.sha256);
    const good = await readFile(pooled);
    await writeFile(pooled, Buffer.alloc(good.length, 0x41));
    const running = await startServer(site, { host: '127.0.0.1', port: 0 });
    try {
      const inventory = path.join(dir, 'inventory.json');
      await writeFile(
        inventory,
        JSON.stringify({ platform: { name: 'linux', version: '12', architecture: 'x64' } }),
      );
      const options: AgentOptions = {
        stateDir: path.join(dir, 'state'),
        server: running.url,
        inventory,
        hardwareId: 'hw-tamper',
        properties: {},
        installOptional: false,
        handlerTimeoutMs: 60_000,
        agentVersion: SITE_VERSION,
        log: pino({ level: 'silent' }),
        env: {},
      };
      const resultOf = (r: Awaited<ReturnType<typeof runCycle>>) =>
        r.results.find((x) => x.updateId === published.updateId);
      const first = await runCycle(options);
      t.is(resultOf(first)?.state, 'download_rejected');
      t.regex(resultOf(first)?.detail ?? '', /do not match the SHA-256/);
      const state = JSON.parse(await readFile(path.join(dir, 'state', 'state.json'), 'utf8')) as {
        failures: Record<string, unknown>;
      };
      t.deepEqual(state.failures, {}, 'no backoff recorded');
      t.deepEqual(
        (await readdir(path.join(dir, 'state', 'downloads'))).filter((f) => f.endsWith('.partial')),
        [],
      );
      // The next cycle tries again at once (not `retry_later`); with the real bytes it installs.
      t.is(resultOf(await runCycle(options))?.state, 'download_rejected');
      await writeFile(pooled, good);
      t.is(resultOf(await runCycle(options))?.state, 'installed');
      const reported = (await site.reports.clientHistory(first.clientId ?? '')).map((h) => h.state);
      t.true(reported.includes('download_rejected'));
      t.false(reported.includes('failed'), 'a tampered response is not a failure of the update');
    } finally {
      await running.close();
      await rm(dir, { recursive: true, force: true });
    }
  },
);
