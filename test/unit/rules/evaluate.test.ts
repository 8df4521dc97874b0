import test from 'ava';
import {
  applicability,
  evaluateIsInstallable,
  evaluateIsInstalled,
  evaluatePrerequisites,
  evaluateRule,
  type Tri,
} from '../../../src/rules/evaluate.js';
import { parseInventory, type Inventory } from '../../../src/rules/inventory.js';
import { parseRuleJson } from '../../../src/rules/json.js';

const windows: Inventory = parseInventory({
  platform: { name: 'windows', version: '10.0.19045', productType: 1, architecture: 'x64' },
  files: {
    'C:\\Program Files\\Contoso\\client.exe': { version: '5.0.1.0', size: 123456 },
    'C:\\Program Files (x86)\\Old\\old.exe': { size: 10 },
    'C:\\Windows\\System32\\drivers\\x.sys': { version: '10.0.1', size: 5, language: 1033 },
  },
  registry: {
    'HKEY_LOCAL_MACHINE\\SOFTWARE\\Contoso\\Client': {
      Version: { type: 'REG_SZ', data: '5.0.1' },
      Build: { type: 'REG_DWORD', data: 42 },
      '': { type: 'REG_SZ', data: 'default' },
      Junk: { type: 'REG_SZ', data: 'not a version' },
    },
    'HKEY_LOCAL_MACHINE\\SOFTWARE\\WOW6432Node\\Contoso32': { V: { type: 'REG_SZ', data: '1' } },
  },
  msiProducts: { '{0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0}': { version: '5.0.1', language: 1033 } },
  wmi: {
    Win32_ComputerSystem: [{ Manufacturer: 'HP', Model: 'HP EliteDesk 800 G3 DM' }],
    Win32_BIOS: [],
    'root\\dell\\sysinv:Dell_SoftwareIdentity': [
      { Description: 'Dell:DRVR_1', VersionString: '0006.0000.0001.8000' },
    ],
  },
  facts: { 'os.id': 'windows', build: 19045 },
});

const linux: Inventory = parseInventory({
  platform: { name: 'linux', version: '6.1', architecture: 'arm64' },
  files: { '/opt/contoso/5.0.1/bin/client': { version: '5.0.1', size: 1 } },
  facts: { 'os.id': 'debian', 'os.version': '12' },
});

const value = (json: unknown, inventory: Inventory = windows): Tri =>
  evaluateRule(parseRuleJson(json), inventory).value;

test('files: exists, version, size, CSIDL, case-insensitive on Windows', (t) => {
  t.true(value({ FileExists: { Path: 'C:\\Program Files\\Contoso\\client.exe' } }) === true);
  t.is(value({ FileExists: { Path: 'c:/program files/CONTOSO/client.exe' } }), true);
  t.is(value({ FileExists: { Path: 'Contoso\\client.exe', Csidl: 38 } }), true);
  t.is(value({ FileExists: { Path: '\\Old\\old.exe', Csidl: 42 } }), true);
  t.is(
    value({
      FileExists: {
        Path: 'drivers\\x.sys',
        Csidl: 37,
        Version: '10.0.1.0',
        Size: 5,
        Language: 1033,
      },
    }),
    true,
  );
  t.is(value({ FileExists: { Path: 'drivers\\x.sys', Csidl: 37, Size: 6 } }), false);
  t.is(
    value({ FileExists: { Path: 'drivers\\x.sys', Csidl: 37, Modified: '2020-01-01T00:00:00Z' } }),
    'unknown',
  );
  t.is(value({ FileExists: { Path: 'nothing.exe', Csidl: 36 } }), false);
  t.is(value({ FileExists: { Path: 'x', Csidl: 9999 } }), 'unknown');
  t.is(value({ FileExists: { Path: '/OPT/contoso/5.0.1/bin/client' } }, linux), false);
  t.is(value({ FileExists: { Path: '/opt/contoso/5.0.1/bin/client' } }, linux), true);
  t.is(value({ FileExists: { Path: 'x', Csidl: 38 } }, linux), 'unknown');
  t.is(value({ FileExists: { Path: '/x' } }, {}), 'unknown');
});

test('FileVersion and FileSize with every comparison', (t) => {
  const path = 'C:\\Program Files\\Contoso\\client.exe';
  const cases: [string, string, boolean][] = [
    ['EqualTo', '5.0.1', true],
    ['LessThan', '5.0.2', true],
    ['LessThanOrEqualTo', '5.0.1.0', true],
    ['GreaterThan', '5.0.1', false],
    ['GreaterThanOrEqualTo', '5.0', true],
  ];
  for (const [Comparison, Version, expected] of cases) {
    t.is(value({ FileVersion: { Path: path, Comparison, Version } }), expected, Comparison);
  }
  t.is(value({ FileSize: { Path: path, Comparison: 'GreaterThan', Size: 100 } }), true);
  t.is(value({ FileSize: { Path: path, Comparison: 'EqualTo', Size: 100 } }), false);
  t.is(
    value({
      FileVersion: {
        Path: 'C:\\Program Files (x86)\\Old\\old.exe',
        Comparison: 'EqualTo',
        Version: '1',
      },
    }),
    'unknown',
  );
  t.is(
    value({ FileVersion: { Path: 'C:\\missing.exe', Comparison: 'EqualTo', Version: '1' } }),
    false,
  );
});

test('registry rules, the default value and the 32-bit view', (t) => {
  const key = { Key: 'HKEY_LOCAL_MACHINE', Subkey: 'SOFTWARE\\Contoso\\Client' };
  t.is(value({ RegKeyExists: key }), true);
  t.is(value({ RegKeyExists: { ...key, Subkey: 'software\\contoso\\CLIENT' } }), true);
  t.is(value({ RegKeyExists: { ...key, Subkey: 'SOFTWARE\\Nope' } }), false);
  t.is(
    value({
      RegKeyExists: { Key: 'HKEY_LOCAL_MACHINE', Subkey: 'SOFTWARE\\Contoso32', RegType32: true },
    }),
    true,
  );
  t.is(value({ RegValueExists: { ...key, Value: 'Build', Type: 'REG_DWORD' } }), true);
  t.is(value({ RegValueExists: { ...key, Value: 'Build', Type: 'REG_SZ' } }), false);
  t.is(value({ RegValueExists: key }), true);
  t.is(
    value({ RegDword: { ...key, Value: 'Build', Comparison: 'GreaterThanOrEqualTo', Data: 42 } }),
    true,
  );
  t.is(value({ RegDword: { ...key, Value: 'Version', Comparison: 'EqualTo', Data: 1 } }), false);
  t.is(value({ RegSz: { ...key, Value: 'Version', Comparison: 'EqualTo', Data: '5.0.1' } }), true);
  t.is(value({ RegSz: { ...key, Value: 'Version', Comparison: 'BeginsWith', Data: '5.' } }), true);
  t.is(value({ RegSz: { ...key, Value: 'Version', Comparison: 'Contains', Data: '.0.' } }), true);
  t.is(value({ RegSz: { ...key, Value: 'Version', Comparison: 'EndsWith', Data: '.2' } }), false);
  t.is(value({ RegSz: { ...key, Value: '', Comparison: 'EqualTo', Data: 'default' } }), true);
  t.is(
    value({ RegSzToVersion: { ...key, Value: 'Version', Comparison: 'EqualTo', Data: '5.0.1.0' } }),
    true,
  );
  t.is(
    value({ RegSzToVersion: { ...key, Value: 'Junk', Comparison: 'EqualTo', Data: '5.0.1.0' } }),
    false,
  );
  // no registry section: unknown, never silently true or false
  t.is(value({ RegKeyExists: key }, linux), 'unknown');
  t.is(value({ Not: { RegKeyExists: key } }, linux), 'unknown');
});

test('Windows version, processor, platform', (t) => {
  t.is(
    value({
      WindowsVersion: {
        Comparison: 'GreaterThanOrEqualTo',
        MajorVersion: 5,
        MinorVersion: 0,
        ServicePackMajor: 4,
      },
    }),
    true,
  );
  t.is(value({ WindowsVersion: { MajorVersion: 10, MinorVersion: 0 } }), true);
  t.is(
    value({
      WindowsVersion: { MajorVersion: 10, MinorVersion: 0, BuildNumber: 19045, ProductType: 1 },
    }),
    true,
  );
  t.is(value({ WindowsVersion: { MajorVersion: 10, ProductType: 3 } }), false);
  t.is(
    value({
      WindowsVersion: {
        Comparison: 'LessThan',
        MajorVersion: 10,
        MinorVersion: 0,
        BuildNumber: 22000,
      },
    }),
    true,
  );
  // equal so far, and the inventory has no service pack: cannot tell
  t.is(value({ WindowsVersion: { MajorVersion: 10, ServicePackMajor: 0 } }), 'unknown');
  t.is(value({ WindowsVersion: { MajorVersion: 10, SuiteMask: 1 } }), 'unknown');
  t.is(value({ WindowsVersion: { MajorVersion: 10 } }, linux), false);
  t.is(value({ WindowsVersion: { MajorVersion: 10 } }, {}), 'unknown');
  t.is(value({ Processor: { Architecture: 'x64' } }), true);
  t.is(value({ Processor: { Architecture: 'x86' } }), false);
  t.is(value({ Processor: { Architecture: 'x64', Level: 6 } }), 'unknown');
  t.is(value({ Processor: { Architecture: 'arm64' } }, {}), 'unknown');
  t.is(value({ Platform: { Name: 'Linux' } }, linux), true);
  t.is(
    value({ Platform: { Name: 'linux', Comparison: 'GreaterThanOrEqualTo', Version: '6' } }, linux),
    true,
  );
  t.is(value({ Platform: { Name: 'linux', Version: '6.1.0' } }, linux), true);
  t.is(value({ Platform: { Name: 'windows' } }, linux), false);
});

test('MSI products', (t) => {
  const code = '{0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0}'.toUpperCase();
  t.is(value({ MsiProductInstalled: { ProductCode: code } }), true);
  t.is(
    value({
      MsiProductInstalled: {
        ProductCode: '{0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0}',
        VersionMin: '5.0',
        VersionMax: '6.0',
      },
    }),
    true,
  );
  t.is(
    value({
      MsiProductInstalled: { ProductCode: code, VersionMin: '5.0.1', ExcludeVersionMin: true },
    }),
    false,
  );
  t.is(value({ MsiProductInstalled: { ProductCode: code, VersionMax: '5.0.1' } }), true);
  t.is(
    value({
      MsiProductInstalled: { ProductCode: code, VersionMax: '5.0.1', ExcludeVersionMax: true },
    }),
    false,
  );
  t.is(value({ MsiProductInstalled: { ProductCode: code, Language: 1031 } }), false);
  t.is(
    value({ MsiProductInstalled: { ProductCode: '{00000000-0000-0000-0000-000000000000}' } }),
    false,
  );
  t.is(value({ MsiProductInstalled: { ProductCode: code } }, linux), 'unknown');
});

test('WMI queries: classes, namespaces, unknowns', (t) => {
  t.is(
    value({
      WmiQuery: { WqlQuery: "select * from Win32_ComputerSystem where Manufacturer = 'hp'" },
    }),
    true,
  );
  t.is(
    value({
      WmiQuery: {
        Namespace: 'ROOT\\CIMV2',
        WqlQuery: "select * from win32_computersystem where Manufacturer like 'Dell%'",
      },
    }),
    false,
  );
  t.is(value({ WmiQuery: { WqlQuery: 'select * from Win32_BIOS' } }), false);
  t.is(value({ WmiQuery: { WqlQuery: 'select * from Win32_Processor' } }), 'unknown');
  t.is(value({ WmiQuery: { WqlQuery: 'ASSOCIATORS OF {x}' } }), 'unknown');
  t.is(
    value({
      WmiQuery: {
        Namespace: 'Root\\Dell\\sysinv',
        WqlQuery:
          "SELECT * FROM Dell_SoftwareIdentity WHERE (Description >= 'Dell:DRVR_1' AND Description < 'Dell:DRVR_1~') AND VersionString < '0006.0000.0001.8454'",
      },
    }),
    true,
  );
  t.is(
    value({ WmiQuery: { Namespace: 'root\\other', WqlQuery: 'select * from Win32_BIOS' } }),
    'unknown',
  );
  t.is(value({ WmiQuery: { WqlQuery: 'select * from Win32_BIOS' } }, linux), 'unknown');
});

test('facts', (t) => {
  t.is(value({ Fact: { Name: 'os.id', Value: 'Debian' } }, linux), true);
  t.is(
    value({ Fact: { Name: 'os.version', Comparison: 'GreaterThanOrEqualTo', Value: '11' } }, linux),
    true,
  );
  t.is(value({ Fact: { Name: 'os.version', Comparison: 'EqualTo', Value: '12.0' } }, linux), true);
  t.is(value({ Fact: { Name: 'os.id', Comparison: 'GreaterThan', Value: 'a' } }, linux), 'unknown');
  t.is(value({ Fact: { Name: 'build', Comparison: 'LessThan', Value: '20000' } }), true);
  t.is(value({ Fact: { Name: 'nope', Value: 'x' } }, linux), 'unknown');
  t.is(value({ Fact: { Name: 'os.id', Value: 'x' } }, { platform: { name: 'linux' } }), 'unknown');
});

test('Kleene logic and the why tree', (t) => {
  const unknown = { RegKeyExists: { Key: 'HKEY_LOCAL_MACHINE', Subkey: 'S' } };
  t.is(value({ And: [{ True: {} }, unknown] }, linux), 'unknown');
  t.is(value({ And: [{ False: {} }, unknown] }, linux), false);
  t.is(value({ Or: [{ True: {} }, unknown] }, linux), true);
  t.is(value({ Or: [{ False: {} }, unknown] }, linux), 'unknown');
  t.is(value({ Unsupported: { name: 'bar:RegKeyLoop' } }), 'unknown');
  const result = evaluateRule(
    parseRuleJson({
      And: [
        { Platform: { Name: 'linux' } },
        { Not: { FileExists: { Path: '/opt/contoso/5.0.1/bin/client' } } },
      ],
    }),
    linux,
    'isInstallable',
  );
  t.is(result.value, false);
  t.is(result.why.reason, 'And[1] (Not) is false');
  t.is(result.why.children?.[1]?.path, 'isInstallable.And[1].Not');
  t.is(
    result.why.children?.[1]?.children?.[0]?.reason,
    'file /opt/contoso/5.0.1/bin/client exists',
  );
});

test('absent rules have their defaults', (t) => {
  t.is(evaluateIsInstalled(undefined, windows).value, false);
  t.is(evaluateIsInstallable(undefined, windows).value, true);
});

test('prerequisites are an AND of OR-groups', (t) => {
  const lookup = (id: string): Tri => (id === 'A' ? true : id === 'U' ? 'unknown' : false);
  t.is(evaluatePrerequisites([], lookup).value, true);
  t.is(evaluatePrerequisites([['A'], ['B', 'A']], lookup).value, true);
  t.is(evaluatePrerequisites([['A'], ['B']], lookup).value, false);
  t.is(evaluatePrerequisites([['U', 'B']], lookup).value, 'unknown');
  t.is(evaluatePrerequisites([['U', 'A']], lookup).value, true);
});

test('applicability: installable, not installed, prerequisites installed', (t) => {
  const isInstalled = parseRuleJson({ FileExists: { Path: '/opt/contoso/5.0.2/bin/client' } });
  const isInstallable = parseRuleJson({
    And: [{ Platform: { Name: 'linux' } }, { Processor: { Architecture: 'arm64' } }],
  });
  const yes = applicability(
    { isInstalled, isInstallable, prerequisites: [['A']] },
    linux,
    () => true,
  );
  t.true(yes.applicable);
  t.is(yes.why.reason, 'installable: true, installed: false, prerequisites installed: true');
  t.false(
    applicability({ isInstalled, isInstallable, prerequisites: [['A']] }, linux, () => false)
      .applicable,
  );
  const installed = parseRuleJson({ FileExists: { Path: '/opt/contoso/5.0.1/bin/client' } });
  t.false(applicability({ isInstalled: installed, isInstallable }, linux).applicable);
  // unknown installability is not applicable
  const unknownInstallable = parseRuleJson({
    RegKeyExists: { Key: 'HKEY_LOCAL_MACHINE', Subkey: 'S' },
  });
  const maybe = applicability({ isInstallable: unknownInstallable }, linux);
  t.is(maybe.value, 'unknown');
  t.false(maybe.applicable);
  // nothing at all: installable everywhere, never detected as installed
  t.true(applicability({}, linux).applicable);
});
