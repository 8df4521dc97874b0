import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import {
  LinuxProvider,
  requestFor,
  type CommandRunner,
} from '../../../src/agent/inventory/index.js';
import { applicability, parseInventory, parseRuleJson } from '../../../src/rules/index.js';

let root: string;
test.before(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'upcat-linux-'));
  const put = async (file: string, text: string) => {
    await mkdir(path.dirname(path.join(root, file)), { recursive: true });
    await writeFile(path.join(root, file), text);
  };
  await put(
    'etc/os-release',
    'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\nID=debian\n',
  );
  await put('sys/class/dmi/id/sys_vendor', 'HP\n');
  await put('sys/class/dmi/id/product_name', 'HP EliteDesk 800 G3 DM\n');
  await put('sys/class/dmi/id/bios_vendor', 'HP\n');
  await put('sys/class/dmi/id/bios_version', 'P21 Ver. 02.22\n');
  await put('opt/contoso/bin/client', 'x'.repeat(1234));
});
test.after.always(() => rm(root, { recursive: true, force: true }));

/** dpkg-query as recorded on Debian 12: curl installed, nosuch unknown (exit 1). */
const dpkg: CommandRunner = async (program, args) => {
  if (program !== 'dpkg-query') return { exitCode: 127, stdout: '', stderr: 'not found' };
  const lines: Record<string, string> = {
    curl: 'curl\t7.88.1-10+deb12u5\tinstalled',
    libc6: 'libc6:amd64\t2.36-9+deb12u4\tinstalled',
    removed: 'removed\t1.0-1\tconfig-files',
  };
  const names = args.slice(args.indexOf('--') + 1);
  const known = names.filter((n) => lines[n] !== undefined);
  return {
    exitCode: known.length === names.length ? 0 : 1,
    stdout: known.map((n) => `${lines[n]}\n`).join(''),
    stderr: names
      .filter((n) => lines[n] === undefined)
      .map((n) => `dpkg-query: no packages found matching ${n}\n`)
      .join(''),
  };
};

const provider = () =>
  new LinuxProvider({ root, run: dpkg, machine: 'x86_64', release: '6.1.0-18-amd64' });

const rules = (json: unknown) => parseRuleJson(json);

test('collects platform, os-release facts, requested files and packages', async (t) => {
  const isInstallable = rules({
    And: [
      { Platform: { Name: 'linux' } },
      { Fact: { Name: 'os.id', Value: 'debian' } },
      { Fact: { Name: 'dpkg.curl', Comparison: 'GreaterThanOrEqualTo', Value: '7.88' } },
      { FileSize: { Path: '/opt/contoso/bin/client', Comparison: 'EqualTo', Size: 1234 } },
    ],
  });
  const isInstalled = rules({ FileExists: { Path: '/opt/contoso/5.0.1/bin/client' } });
  const inventory = await provider().collect(requestFor([isInstalled, isInstallable]));
  t.notThrows(() => parseInventory(inventory));
  t.deepEqual(inventory.platform, { name: 'linux', version: '6.1.0', architecture: 'x64' });
  t.like(inventory.facts, {
    'os.id': 'debian',
    'os.version': '12',
    'os.name': 'Debian GNU/Linux',
    'dpkg.curl': '7.88.1',
    'dpkg.curl.raw': '7.88.1-10+deb12u5',
    'dpkg.curl.installed': 'true',
  });
  t.deepEqual(Object.keys(inventory.files ?? {}), ['/opt/contoso/bin/client']);
  t.is(inventory.files?.['/opt/contoso/bin/client']?.size, 1234);
  const result = applicability({ isInstalled, isInstallable }, inventory);
  t.is(result.isInstallable.value, true);
  t.is(result.isInstalled.value, false, 'a requested file that is not there does not exist');
  t.true(result.applicable);
});

test('packages: multi-arch names, not installed, removed with config files', async (t) => {
  const request = requestFor([
    rules({
      Or: [
        { Fact: { Name: 'dpkg.libc6', Value: '2.36' } },
        { Fact: { Name: 'dpkg.nosuch.installed', Value: 'true' } },
        { Fact: { Name: 'dpkg.removed', Value: '1.0' } },
      ],
    }),
  ]);
  const facts = (await provider().collect(request)).facts ?? {};
  t.is(facts['dpkg.libc6'], '2.36');
  t.is(facts['dpkg.nosuch.installed'], 'false');
  t.false('dpkg.nosuch' in facts);
  t.is(facts['dpkg.removed.installed'], 'false');
});

test('no package manager: no package facts at all, so rules on them are unknown', async (t) => {
  const none: CommandRunner = async () => ({ exitCode: 127, stdout: '', stderr: 'ENOENT' });
  const rule = rules({ Fact: { Name: 'rpm.bash', Comparison: 'GreaterThan', Value: '4' } });
  const p = new LinuxProvider({ root, run: none, machine: 'aarch64', release: '6.6' });
  const inventory = await p.collect(requestFor([rule]));
  t.is(inventory.facts?.['rpm.bash.installed'], undefined);
  t.is(applicability({ isInstallable: rule }, inventory).isInstallable.value, 'unknown');
  t.is(inventory.platform?.architecture, 'arm64');
});

test('DMI is presented as Win32_ComputerSystem and Win32_BIOS, so model rules work', async (t) => {
  const rule = rules({
    And: [
      {
        WmiQuery: {
          Namespace: 'root\\cimv2',
          WqlQuery:
            "SELECT * FROM Win32_ComputerSystem WHERE Manufacturer = 'HP' AND Model LIKE '%EliteDesk 800 G3%'",
        },
      },
      { WmiQuery: { WqlQuery: "select * from Win32_BIOS where SMBIOSBIOSVersion like 'P21%'" } },
    ],
  });
  const inventory = await provider().collect(requestFor([rule]));
  t.deepEqual(inventory.wmi?.['Win32_ComputerSystem'], [
    { Manufacturer: 'HP', Model: 'HP EliteDesk 800 G3 DM' },
  ]);
  t.is(applicability({ isInstallable: rule }, inventory).isInstallable.value, true);
});

test('without DMI (a container) model rules are unknown, not false', async (t) => {
  const empty = await mkdtemp(path.join(os.tmpdir(), 'upcat-linux-empty-'));
  try {
    const rule = rules({
      WmiQuery: { WqlQuery: "SELECT * FROM Win32_ComputerSystem WHERE Manufacturer = 'HP'" },
    });
    const p = new LinuxProvider({ root: empty, run: dpkg, machine: 'x86_64', release: '6.1' });
    const inventory = await p.collect(requestFor([rule]));
    t.is(applicability({ isInstallable: rule }, inventory).isInstallable.value, 'unknown');
    t.deepEqual(inventory.facts, { 'kernel.release': '6.1' });
  } finally {
    await rm(empty, { recursive: true, force: true });
  }
});

test('Windows-only rules stay unknown on Linux', async (t) => {
  const rule = rules({
    Or: [
      { RegKeyExists: { Key: 'HKEY_LOCAL_MACHINE', Subkey: 'SOFTWARE\\Contoso' } },
      { MsiProductInstalled: { ProductCode: '{0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0}' } },
    ],
  });
  const inventory = await provider().collect(requestFor([rule]));
  t.is(applicability({ isInstallable: rule }, inventory).isInstallable.value, 'unknown');
});
