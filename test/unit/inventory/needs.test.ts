import test from 'ava';
import { requestFor } from '../../../src/agent/inventory/index.js';
import { parseRuleJson } from '../../../src/rules/index.js';

test('collects what base rules name, once each, both registry views for RegType32', (t) => {
  const rule = parseRuleJson({
    And: [
      {
        FileVersion: {
          Path: 'Contoso\\client.exe',
          Csidl: 38,
          Comparison: 'LessThan',
          Version: '5.0',
        },
      },
      { FileExists: { Path: 'C:\\x.txt' } },
      { FileExists: { Path: 'C:\\x.txt' } },
      {
        RegSz: {
          Key: 'HKEY_LOCAL_MACHINE',
          Subkey: 'SOFTWARE\\Contoso',
          RegType32: true,
          Value: 'V',
          Comparison: 'EqualTo',
          Data: '1',
        },
      },
      { Not: { RegKeyExists: { Key: 'HKEY_LOCAL_MACHINE', Subkey: 'SYSTEM\\X' } } },
      { MsiProductInstalled: { ProductCode: '{0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0}' } },
      {
        WmiQuery: {
          Namespace: 'Root\\Dell\\sysinv',
          WqlQuery: 'SELECT * FROM Dell_SoftwareIdentity',
        },
      },
      { WmiQuery: { WqlQuery: "SELECT * FROM Win32_BIOS WHERE Version = '1'" } },
      { WmiQuery: { WqlQuery: 'DELETE everything' } },
      { Fact: { Name: 'os.id', Value: 'debian' } },
    ],
  });
  const request = requestFor([rule, undefined]);
  t.deepEqual(request.files, [{ path: 'Contoso\\client.exe', csidl: 38 }, { path: 'C:\\x.txt' }]);
  t.deepEqual(request.registryKeys, [
    'HKEY_LOCAL_MACHINE\\SOFTWARE\\Contoso',
    'HKEY_LOCAL_MACHINE\\SOFTWARE\\WOW6432Node\\Contoso',
    'HKEY_LOCAL_MACHINE\\SYSTEM\\X',
  ]);
  t.deepEqual(request.msiProducts, ['{0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0}']);
  t.deepEqual(request.wmiClasses, [
    { namespace: 'root\\dell\\sysinv', className: 'Dell_SoftwareIdentity' },
    { namespace: 'root\\cimv2', className: 'Win32_BIOS' },
  ]);
  t.deepEqual(request.facts, ['os.id']);
});
