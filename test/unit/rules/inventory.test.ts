import test from 'ava';
import { UpcatError } from '../../../src/errors.js';
import { parseInventory } from '../../../src/rules/inventory.js';

const design = {
  platform: { name: 'windows', version: '10.0.19045', productType: 1, architecture: 'x64' },
  files: { 'C:\\Program Files\\Contoso\\client.exe': { version: '5.0.1.0', size: 123456 } },
  registry: {
    'HKEY_LOCAL_MACHINE\\SOFTWARE\\Contoso\\Client': { Version: { type: 'REG_SZ', data: '5.0.1' } },
  },
  msiProducts: { '{0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0}': { version: '5.0.1', language: 1033 } },
  wmi: {
    Win32_ComputerSystem: [{ Manufacturer: 'HP', Model: 'HP EliteDesk 800 G3 DM' }],
    Win32_BIOS: [{ SMBIOSBIOSVersion: 'P21 Ver. 02.22' }],
  },
  facts: { 'os.id': 'debian', 'os.version': '12' },
};

test('the DESIGN.md §8 example parses', (t) => {
  t.deepEqual(parseInventory(design), design);
  t.deepEqual(parseInventory({}), {});
});

test('bad fields are named', (t) => {
  const cases: [unknown, RegExp][] = [
    [{ platfrom: {} }, /inventory: unknown field "platfrom"/],
    [{ platform: { name: 'windows', architecture: 'mips' } }, /inventory\.platform\.architecture/],
    [{ files: { a: { version: 5 } } }, /inventory\.files\.a\.version/],
    [
      { registry: { k: { v: { type: 'REG_DWORD', data: 'x' } } } },
      /inventory\.registry\.k\.v\.data/,
    ],
    [{ wmi: { C: [{ p: {} }] } }, /inventory\.wmi\.C\.0\.p/],
    [[], /inventory/],
  ];
  for (const [value, message] of cases) {
    const err = t.throws(() => parseInventory(value), { instanceOf: UpcatError, message });
    t.is(err?.code, 'invalid_input');
  }
});
