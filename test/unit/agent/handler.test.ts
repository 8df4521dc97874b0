import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import {
  handlerCommand,
  runHandler,
  systemRoot,
  type HandlerRun,
} from '../../../src/agent/handler.js';
import { installUnit, systemdUnit } from '../../../src/agent/service-unit.js';
import { ensurePrivateDir } from '../../../src/agent/state-dir.js';

async function setup(script: string): Promise<{ run: HandlerRun; dir: string }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'upcat-handler-'));
  await ensurePrivateDir(dir);
  const payload = path.join(dir, 'payload');
  await writeFile(payload, script, { mode: 0o600 });
  const workDir = path.join(dir, 'work');
  await ensurePrivateDir(workDir);
  return {
    dir,
    run: {
      handler: {
        type: 'commandLine',
        program: 'setup.sh',
        arguments: '--to "$(target)"',
        returnCodes: [
          { code: 0, result: 'Succeeded', reboot: false },
          { code: 17, result: 'Succeeded', reboot: true },
        ],
        defaultResult: 'Failed',
      },
      operation: 'install',
      payload: { file: payload, name: 'setup.sh', kind: 'file' },
      workDir,
      stateDir: dir,
      properties: { target: 'a b', markerDir: '/m' },
      timeoutMs: 10_000,
    },
  };
}

test('the program runs in its private directory with its arguments and properties, no shell', async (t) => {
  const { run, dir } = await setup(
    '#!/bin/sh\necho "args=$1|$2 prop=$UPCAT_PROPERTY_markerDir cwd=$(pwd)"\nexit 17\n',
  );
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const r = await runHandler(run);
  t.is(r.code, 17); // POSIX exit codes are 8 bits: 3010 is a Windows code
  t.deepEqual(r.outcome, { result: 'Succeeded', reboot: true });
  t.regex(r.detail, /args=--to\|a b prop=\/m cwd=.*\/work/);
});

test('a failing code, a timeout, and a missing uninstall command are failures', async (t) => {
  const failing = await setup('#!/bin/sh\nexit 5\n');
  t.teardown(() => rm(failing.dir, { recursive: true, force: true }));
  t.like(await runHandler(failing.run), { code: 5, outcome: { result: 'Failed' } });

  const slow = await setup('#!/bin/sh\nsleep 30\n');
  t.teardown(() => rm(slow.dir, { recursive: true, force: true }));
  const r = await runHandler({ ...slow.run, timeoutMs: 300 });
  t.like(r, { outcome: { result: 'Failed' } });
  t.regex(r.detail, /timed out/);

  const un = await setup('#!/bin/sh\nexit 0\n');
  t.teardown(() => rm(un.dir, { recursive: true, force: true }));
  await t.throwsAsync(runHandler({ ...un.run, operation: 'uninstall' }), {
    message: /no uninstall command line/,
  });
  await t.throwsAsync(
    runHandler({
      ...un.run,
      handler: {
        type: 'msi',
        productCode: '{0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0}',
        installCommandLine: '',
        uninstallCommandLine: '',
        returnCodes: [],
        defaultResult: 'Failed',
      },
      platform: 'linux',
    }),
    { message: /Windows only/ },
  );
});

test('install-service: the unit runs the agent with a private umask; only root may install it', async (t) => {
  const unit = systemdUnit({
    node: '/usr/bin/node',
    cli: '/opt/upcat/bin/upcat.js',
    server: 'http://site:8530',
    stateDir: '/var/lib/upcat-agent',
    intervalSeconds: 3600,
  });
  t.regex(
    unit,
    /^ExecStart=\/usr\/bin\/node \/opt\/upcat\/bin\/upcat\.js agent --server http:\/\/site:8530 --state-dir \/var\/lib\/upcat-agent --interval 3600$/m,
  );
  t.regex(unit, /^UMask=0077$/m);
  t.regex(unit, /^StateDirectoryMode=0700$/m);
  t.regex(unit, /^WantedBy=multi-user\.target$/m);
  await t.throwsAsync(installUnit(unit, '/nonexistent', 1000), {
    message: /must run as root.*--dry-run/,
  });
});

test('msi: the system msiexec by absolute path (never a payload copy), with its arguments', (t) => {
  const msi = {
    type: 'msi' as const,
    productCode: '{0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0}',
    program: 'files/contoso.msi',
    installCommandLine: 'INSTALLDIR="$(installDir)" REBOOT=ReallySuppress',
    uninstallCommandLine: 'REBOOT=ReallySuppress',
    returnCodes: [],
    defaultResult: 'Failed' as const,
  };
  const run: HandlerRun = {
    handler: msi,
    operation: 'install',
    payload: { file: 'C:\\ProgramData\\upcat-agent\\downloads\\x', name: 'p.zip', kind: 'package' },
    workDir: 'C:\\ProgramData\\upcat-agent\\work\\u-1',
    stateDir: 'C:\\ProgramData\\upcat-agent',
    properties: { installDir: 'C:\\Program Files\\Contoso' },
    timeoutMs: 1000,
    platform: 'win32',
    systemRoot: 'D:\\WinNT',
  };
  t.deepEqual(handlerCommand(run), {
    program: 'D:\\WinNT\\System32\\msiexec.exe',
    args: [
      '/i',
      'C:\\ProgramData\\upcat-agent\\work\\u-1\\files\\contoso.msi',
      '/qn',
      'INSTALLDIR=C:\\Program Files\\Contoso',
      'REBOOT=ReallySuppress',
    ],
  });
  t.deepEqual(handlerCommand({ ...run, operation: 'uninstall' }), {
    program: 'D:\\WinNT\\System32\\msiexec.exe',
    args: ['/x', '{0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0}', '/qn', 'REBOOT=ReallySuppress'],
  });
  // A file payload (no program): the MSI is the payload itself, copied into the work directory.
  t.is(
    handlerCommand({
      ...run,
      handler: { ...msi, program: undefined },
      payload: { ...run.payload, name: 'c.msi', kind: 'file' },
    }).args[1],
    'C:\\ProgramData\\upcat-agent\\work\\u-1\\c.msi',
  );
});

test('%SystemRoot% comes from the environment when it is an absolute path, else C:\\Windows', (t) => {
  t.is(systemRoot({ SystemRoot: 'E:\\Windows' }), 'E:\\Windows');
  t.is(systemRoot({ SYSTEMROOT: 'F:\\Win' }), 'F:\\Win');
  t.is(systemRoot({}), 'C:\\Windows');
  t.is(systemRoot({ SystemRoot: 'Windows' }), 'C:\\Windows', 'a relative path would be searched');
  t.is(systemRoot({ SystemRoot: '\\\\server\\share' }), 'C:\\Windows');
});
