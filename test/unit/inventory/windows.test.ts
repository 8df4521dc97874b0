/**
 * The Windows provider against recorded outputs of reg.exe and PowerShell (Windows 10 22H2,
 * x64): it cannot run here, so the runner answers as those tools did.
 */
import test from 'ava';
import {
  requestFor,
  WindowsProvider,
  type CommandResult,
  type CommandRunner,
} from '../../../src/agent/inventory/index.js';
import { parseRegQuery } from '../../../src/agent/inventory/windows-registry.js';
import { scriptOf } from '../../../src/agent/inventory/windows-scripts.js';
import { applicability, parseInventory, parseRuleJson } from '../../../src/rules/index.js';

const ok = (stdout: string): CommandResult => ({ exitCode: 0, stdout, stderr: '' });
const NOT_FOUND: CommandResult = {
  exitCode: 1,
  stdout: '',
  stderr: 'ERROR: The system was unable to find the specified registry key or value.\r\n',
};

const REG: Record<string, string> = {
  'HKLM\\SOFTWARE\\Contoso\\Client':
    '\r\nHKEY_LOCAL_MACHINE\\SOFTWARE\\Contoso\\Client\r\n    (Default)    REG_SZ    (value not set)\r\n    Version    REG_SZ    5.0.1\r\n    Build    REG_DWORD    0x1f4\r\n    Paths    REG_MULTI_SZ    C:\\a\\0C:\\b\r\n    Blob    REG_BINARY    0A0B\r\n\r\nHKEY_LOCAL_MACHINE\\SOFTWARE\\Contoso\\Client\\Sub\r\n',
  'HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\{0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0}':
    '\r\nHKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\{0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0}\r\n    DisplayName    REG_SZ    Contoso Client\r\n    DisplayVersion    REG_SZ    5.0.1\r\n    Language    REG_DWORD    0x409\r\n    WindowsInstaller    REG_DWORD    0x1\r\n',
};

const POWERSHELL = {
  platform:
    '{"Version":"10.0.19045","ProductType":1,"ServicePackMajorVersion":0,"ServicePackMinorVersion":0,"Architecture":9}\r\n',
  files:
    '[{"Path":"C:\\\\Program Files\\\\Contoso\\\\client.exe","Size":123456,"Version":"5.0.1.0","Created":"2024-01-02T03:04:05.0000000Z","Modified":"2024-01-02T03:04:05.0000000Z"}]\r\n',
  // One instance comes back as an object, not an array (ConvertTo-Json); Dell's class is absent.
  wmi: '{"0":{"Manufacturer":"HP","Model":"HP EliteDesk 800 G3 DM","Roles":["LM_Workstation"],"TotalPhysicalMemory":17055289344}}\r\n',
};

const calls: string[] = [];
/** Answers as the tools did; `log` records which PowerShell scripts ran. */
const recorder =
  (log: string[]): CommandRunner =>
  async (program, args) => {
    const calls = log;
    if (program === 'reg') {
      calls.push(`reg ${args[1] ?? ''}`);
      const out = REG[args[1] ?? ''];
      return out === undefined ? NOT_FOUND : ok(out);
    }
    if (program === 'powershell.exe') {
      const script = scriptOf(args);
      calls.push(
        `ps ${script.includes('Get-Item') ? 'files' : script.includes('Win32_OperatingSystem') ? 'platform' : 'wmi'}`,
      );
      if (script.includes('Win32_OperatingSystem')) return ok(POWERSHELL.platform);
      if (script.includes('Get-Item')) {
        return script.includes("'C:\\Program Files\\Contoso\\client.exe'")
          ? ok(POWERSHELL.files)
          : ok('[]');
      }
      if (script.includes('Get-CimInstance -Namespace')) return ok(POWERSHELL.wmi);
    }
    return { exitCode: 127, stdout: '', stderr: 'not found' };
  };
const recorded = recorder([]);

const rules = {
  isInstalled: parseRuleJson({
    And: [
      {
        FileVersion: {
          Path: 'Contoso\\client.exe',
          Csidl: 38,
          Comparison: 'GreaterThanOrEqualTo',
          Version: '5.0.1',
        },
      },
      {
        RegSzToVersion: {
          Key: 'HKEY_LOCAL_MACHINE',
          Subkey: 'SOFTWARE\\Contoso\\Client',
          Value: 'Version',
          Comparison: 'EqualTo',
          Data: '5.0.1',
        },
      },
      {
        RegDword: {
          Key: 'HKEY_LOCAL_MACHINE',
          Subkey: 'SOFTWARE\\Contoso\\Client',
          Value: 'Build',
          Comparison: 'EqualTo',
          Data: 500,
        },
      },
      {
        MsiProductInstalled: {
          ProductCode: '{0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0}',
          VersionMin: '5.0',
          Language: 1033,
        },
      },
    ],
  }),
  isInstallable: parseRuleJson({
    And: [
      {
        WindowsVersion: {
          Comparison: 'GreaterThanOrEqualTo',
          MajorVersion: 10,
          BuildNumber: 19041,
          ProductType: 1,
        },
      },
      { Processor: { Architecture: 'x64' } },
      {
        WmiQuery: {
          WqlQuery: "SELECT * FROM Win32_ComputerSystem WHERE Model LIKE 'HP EliteDesk%'",
        },
      },
      { Not: { RegKeyExists: { Key: 'HKEY_LOCAL_MACHINE', Subkey: 'SOFTWARE\\Blocker' } } },
    ],
  }),
};

test('answers every kind of rule from reg.exe and PowerShell outputs', async (t) => {
  const provider = new WindowsProvider({ run: recorder(calls) });
  const inventory = await provider.collect(requestFor([rules.isInstalled, rules.isInstallable]));
  t.notThrows(() => parseInventory(inventory));
  t.deepEqual(inventory.platform, {
    name: 'windows',
    version: '10.0.19045',
    productType: 1,
    servicePackMajor: 0,
    servicePackMinor: 0,
    architecture: 'x64',
  });
  t.deepEqual(inventory.msiProducts, {
    '{0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0}': { version: '5.0.1', language: 1033 },
  });
  t.deepEqual(inventory.wmi?.['Win32_ComputerSystem'], [
    { Manufacturer: 'HP', Model: 'HP EliteDesk 800 G3 DM', TotalPhysicalMemory: 17055289344 },
  ]);
  t.deepEqual(Object.keys(inventory.registry ?? {}), [
    'HKEY_LOCAL_MACHINE\\SOFTWARE\\Contoso\\Client',
  ]);
  const result = applicability(rules, inventory);
  t.is(result.isInstalled.value, true, JSON.stringify(result.isInstalled.why));
  t.is(result.isInstallable.value, true, JSON.stringify(result.isInstallable.why));
  t.false(result.applicable);
  t.deepEqual(
    calls.filter((c) => c.startsWith('ps')),
    ['ps platform', 'ps files', 'ps wmi'],
  );
});

test('a file the script does not list does not exist; a failing PowerShell leaves sections out', async (t) => {
  const rule = parseRuleJson({ FileExists: { Path: 'C:\\Other\\x.exe' } });
  const inventory = await new WindowsProvider({ run: recorded }).collect(requestFor([rule]));
  t.deepEqual(inventory.files, {});
  t.is(applicability({ isInstalled: rule }, inventory).isInstalled.value, false);

  const broken: CommandRunner = async () => ({ exitCode: 1, stdout: '', stderr: 'Access denied' });
  const none = await new WindowsProvider({ run: broken }).collect(
    requestFor([rules.isInstalled, rules.isInstallable]),
  );
  t.deepEqual(none, {});
  t.is(applicability(rules, none).isInstallable.value, 'unknown');
});

test('reg query output: types, default value, multi-strings, subkey lines ignored', (t) => {
  t.deepEqual(parseRegQuery(REG['HKLM\\SOFTWARE\\Contoso\\Client'] ?? ''), {
    Version: { type: 'REG_SZ', data: '5.0.1' },
    Build: { type: 'REG_DWORD', data: 500 },
    Paths: { type: 'REG_MULTI_SZ', data: ['C:\\a', 'C:\\b'] },
    Blob: { type: 'REG_BINARY', data: '0A0B' },
  });
  t.deepEqual(parseRegQuery('    (Default)    REG_SZ    hello\r\n    Q    REG_QWORD    0x10\r\n'), {
    '': { type: 'REG_SZ', data: 'hello' },
    Q: { type: 'REG_QWORD', data: 16 },
  });
});

test('paths reach PowerShell as quoted literals, never as script', (t) => {
  const provider = new WindowsProvider({
    run: async (program, args) => {
      const script = scriptOf(args);
      if (script.includes('Get-Item')) {
        t.true(script.includes("'C:\\it''s; Remove-Item x'"));
        t.false(script.includes("'C:\\it's"));
      }
      return program === 'powershell.exe' && script.includes('Get-Item') ? ok('[]') : NOT_FOUND;
    },
  });
  return provider
    .collect(requestFor([parseRuleJson({ FileExists: { Path: "C:\\it's; Remove-Item x" } })]))
    .then((inventory) => t.deepEqual(inventory.files, {}));
});
