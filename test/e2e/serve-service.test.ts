import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { loadConfig } from '../../src/config/load.js';
import { installServerService, serverUnit } from '../../src/server/service-unit.js';
import { runCli } from '../helpers/cli.js';

/**
 * `upcat serve install-service` (issue 13 item 6): the unit is checked by systemd's own tools,
 * `systemd-analyze verify` (syntax, known directives, parseable values, ExecStart exists) and
 * `systemd-analyze security --offline` (the sandbox's exposure score). Both work on a unit file
 * without a running systemd (this container has none as PID 1), so starting the service is the
 * one thing not tested here.
 */
const run = promisify(execFile);

async function analyze(unit: string): Promise<{ verify: string; exposure: number }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'upcat-unit-'));
  try {
    const file = path.join(dir, 'upcat.service');
    await writeFile(file, unit);
    const verify = await run('systemd-analyze', ['verify', file]);
    const security = await run('systemd-analyze', ['security', '--offline=true', file]);
    const m = /Overall exposure level for upcat\.service: (\d+(?:\.\d+)?)/.exec(security.stdout);
    return { verify: verify.stderr + verify.stdout, exposure: Number(m?.[1] ?? NaN) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('serve install-service --dry-run: a hardened unit that systemd-analyze accepts', async (t) => {
  const home = await mkdtemp(path.join(os.tmpdir(), 'upcat-service-home-'));
  t.teardown(() => rm(home, { recursive: true, force: true }));
  const res = await runCli(['--home', home, 'serve', 'install-service', '--dry-run'], {
    PATH: process.env['PATH'],
  });
  t.is(res.code, 0, res.stderr);
  const unit = res.stdout;
  for (const line of [
    'User=upcat',
    'ProtectSystem=strict',
    'NoNewPrivileges=yes',
    `ReadWritePaths=${home}`,
    'PrivateTmp=yes',
    'ProtectHome=yes',
    'CapabilityBoundingSet=',
    'UMask=0077',
  ])
    t.true(unit.split('\n').includes(line), line);
  t.regex(unit, new RegExp(`^ExecStart=\\S+ \\S+/bin/upcat\\.js --home ${home} serve$`, 'm'));
  const { verify, exposure } = await analyze(unit);
  t.is(verify.trim(), '', 'systemd-analyze verify has nothing to say');
  t.true(exposure <= 2, `exposure ${exposure} (systemd-analyze security: at most 2.0, "OK")`);
});

test('the unit: port below 1024 gets only CAP_NET_BIND_SERVICE; a home under /home is read-only elsewhere', async (t) => {
  const config = loadConfig({ home: '/home/ops/site', env: { UPCAT_PORT: '80' } });
  const unit = serverUnit({
    node: process.execPath,
    cli: '/opt/upcat/bin/upcat.js',
    config,
    user: 'svc',
  });
  t.true(unit.includes('\nCapabilityBoundingSet=CAP_NET_BIND_SERVICE\n'));
  t.true(unit.includes('\nAmbientCapabilities=CAP_NET_BIND_SERVICE\n'));
  t.true(unit.includes('\nProtectHome=read-only\n'));
  t.true(unit.includes('\nReadWritePaths=/home/ops/site\n'));
  t.true(unit.includes('\nUser=svc\n'));
  const { verify } = await analyze(unit);
  t.is(verify.trim(), '');
});

test('serve install-service refuses to run as another user than root', async (t) => {
  await t.throwsAsync(
    installServerService('', { user: 'upcat', home: '/srv/upcat', dataDirs: [] }, 1000),
    { message: /must run as root.*--dry-run/ },
  );
});
