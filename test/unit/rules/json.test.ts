import test from 'ava';
import { UpcatError } from '../../../src/errors.js';
import { parseRuleJson, parseRulePairJson, ruleToJson } from '../../../src/rules/json.js';

test('the DESIGN.md example parses to the model and back', (t) => {
  const json = {
    And: [{ Platform: { Name: 'linux' } }, { Not: { FileExists: { Path: '/opt/x' } } }],
  };
  const rule = parseRuleJson(json);
  t.deepEqual(rule, {
    kind: 'And',
    rules: [
      { kind: 'Platform', Name: 'linux' },
      { kind: 'Not', rule: { kind: 'FileExists', Path: '/opt/x' } },
    ],
  });
  t.deepEqual(ruleToJson(rule), json);
});

test('every base rule with its WSUS attributes', (t) => {
  const rules = [
    {
      FileExists: {
        Path: 'a.exe',
        Csidl: 38,
        Version: '1.2.3.4',
        Created: '2019-01-24T07:52:15Z',
        Modified: '2019-01-24T07:52:15Z',
        Size: 10,
        Language: 1033,
      },
    },
    { FileVersion: { Path: 'a.exe', Csidl: 42, Comparison: 'GreaterThan', Version: '1.2' } },
    { FileSize: { Path: '/opt/a', Comparison: 'LessThan', Size: 4096 } },
    { RegKeyExists: { Key: 'HKEY_LOCAL_MACHINE', Subkey: 'SOFTWARE\\X', RegType32: true } },
    {
      RegValueExists: {
        Key: 'HKEY_LOCAL_MACHINE',
        Subkey: 'SOFTWARE\\X',
        Value: '',
        Type: 'REG_SZ',
      },
    },
    {
      RegDword: {
        Key: 'HKEY_LOCAL_MACHINE',
        Subkey: 'S',
        Value: 'V',
        Comparison: 'EqualTo',
        Data: 1,
      },
    },
    {
      RegSz: {
        Key: 'HKEY_LOCAL_MACHINE',
        Subkey: 'S',
        Value: 'V',
        Comparison: 'BeginsWith',
        Data: 'a',
      },
    },
    {
      RegSzToVersion: {
        Key: 'HKEY_LOCAL_MACHINE',
        Subkey: 'S',
        Value: 'V',
        Comparison: 'LessThanOrEqualTo',
        Data: '5.0',
      },
    },
    {
      WindowsVersion: {
        Comparison: 'GreaterThanOrEqualTo',
        MajorVersion: 10,
        MinorVersion: 0,
        BuildNumber: 19045,
        ServicePackMajor: 0,
        ServicePackMinor: 0,
        AllSuitesMustBePresent: false,
        SuiteMask: 256,
        ProductType: 1,
      },
    },
    { Processor: { Architecture: 'arm64', Level: 6, Revision: 1 } },
    { Platform: { Name: 'macos', Comparison: 'GreaterThanOrEqualTo', Version: '14' } },
    {
      MsiProductInstalled: {
        ProductCode: '{FB2B7CC0-8307-47e6-A065-11015CC96B99}',
        VersionMax: '2.0',
        ExcludeVersionMax: true,
        VersionMin: '1.6.6.5',
        ExcludeVersionMin: false,
        Language: 1033,
      },
    },
    { WmiQuery: { Namespace: 'root\\cimv2', WqlQuery: 'select * from Win32_BIOS' } },
    { Fact: { Name: 'os.id', Comparison: 'EqualTo', Value: 'debian' } },
    {
      Unsupported: {
        name: 'bar:RegKeyLoop',
        attributes: { Key: 'HKEY_LOCAL_MACHINE' },
        children: [{ name: 'lar:True' }],
      },
    },
  ];
  for (const json of rules) t.deepEqual(ruleToJson(parseRuleJson(json)), json);
});

test('errors name the path of the bad node', (t) => {
  const cases: [unknown, string][] = [
    [
      { And: [{ True: {} }, { FileVersion: { Path: 'x', Comparison: 'Equal', Version: '1' } }] },
      'isInstallable.And[1].FileVersion.Comparison: expected one of EqualTo, LessThan, LessThanOrEqualTo, GreaterThan, GreaterThanOrEqualTo, got "Equal"',
    ],
    [{ FileExist: { Path: 'x' } }, 'isInstallable: unknown element "FileExist"'],
    [{ FileExists: { Path: 'x', Pth: 'y' } }, 'isInstallable.FileExists: unknown attribute "Pth"'],
    [{ FileExists: {} }, 'isInstallable.FileExists.Path: required attribute is missing'],
    [
      { FileSize: { Path: 'x', Comparison: 'EqualTo', Size: '1' } },
      'isInstallable.FileSize.Size: expected integer',
    ],
    [
      { FileSize: { Path: 'x', Comparison: 'EqualTo', Size: -1 } },
      'isInstallable.FileSize.Size: expected an integer from 0',
    ],
    [{ Processor: { Architecture: 9 } }, 'isInstallable.Processor.Architecture: expected string'],
    [
      { Processor: { Architecture: 'ia64' } },
      'isInstallable.Processor.Architecture: expected one of x86',
    ],
    [
      { RegKeyExists: { Key: 'HKEY_LOCAL_MACHINE', Subkey: 'S', RegType32: 'yes' } },
      'isInstallable.RegKeyExists.RegType32: expected boolean',
    ],
    [
      { MsiProductInstalled: { ProductCode: 'FB2B7CC0' } },
      'isInstallable.MsiProductInstalled.ProductCode: expected a GUID',
    ],
    [
      { FileVersion: { Path: 'x', Comparison: 'EqualTo', Version: '1.a' } },
      'isInstallable.FileVersion.Version: expected a version',
    ],
    [{ And: [] }, 'isInstallable.And: expected a non-empty array'],
    [{ Or: {} }, 'isInstallable.Or: expected a non-empty array'],
    [{ Not: [] }, 'isInstallable.Not: expected an object'],
    [{ True: { x: 1 } }, 'isInstallable.True: takes no attributes'],
    [{ True: {}, False: {} }, 'isInstallable: a rule is an object with exactly one element name'],
    [
      { Platform: { Name: 'linux', Comparison: 'EqualTo' } },
      'isInstallable.Platform.Comparison: only meaningful with Version',
    ],
    [
      { FileExists: { Path: 'a\u0000b' } },
      'isInstallable.FileExists.Path: contains a character that XML cannot carry',
    ],
    [
      { Unsupported: { name: 'bad name' } },
      'isInstallable.Unsupported.name: expected an element name',
    ],
    ['And', 'isInstallable: expected an object, got "And"'],
  ];
  for (const [json, message] of cases) {
    const err = t.throws(() => parseRuleJson(json, 'isInstallable'), { instanceOf: UpcatError });
    t.true(err?.message.startsWith(message), `${err?.message} / ${message}`);
    t.is(err?.code, 'invalid_input');
  }
});

test('deep nesting is refused, not a stack overflow', (t) => {
  let json: unknown = { True: {} };
  for (let i = 0; i < 10_000; i++) json = { Not: json };
  t.throws(() => parseRuleJson(json), { instanceOf: UpcatError, message: /nest deeper than 64/ });
});

test('the isInstalled / isInstallable pair', (t) => {
  t.deepEqual(parseRulePairJson({}), {});
  t.deepEqual(parseRulePairJson({ isInstalled: { True: {} } }), { isInstalled: { kind: 'True' } });
  t.deepEqual(parseRulePairJson({ isInstallable: { False: {} } }), {
    isInstallable: { kind: 'False' },
  });
  t.throws(() => parseRulePairJson({ isInstallabel: { False: {} } }), {
    message: /isInstallabel: unknown field/,
  });
  t.throws(() => parseRulePairJson({ isInstalled: { Nope: {} } }), {
    message: /^isInstalled: unknown element "Nope"/,
  });
});
