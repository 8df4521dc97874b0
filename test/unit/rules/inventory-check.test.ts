import test from 'ava';
import { isInventory } from '../../../src/rules/inventory-check.js';
import { parseInventory } from '../../../src/rules/inventory.js';
import { mutate, random } from '../../helpers/mutate.js';

const HEX = 'A0ff';
const valid: unknown[] = [
  {},
  {
    // Every field of every section, each registry type, each kind of WMI and fact value.
    platform: { name: 'windows', version: '6.1.7601', productType: 3, architecture: 'arm64' },
    files: {
      'C:\\Contoso\\client.exe': {
        version: '5.0.1.0',
        size: 123456,
        created: '2026-01-01T00:00:00Z',
        modified: '2026-01-02T00:00:00Z',
        language: 1033,
      },
      'C:\\empty.txt': {},
    },
    registry: {
      'HKEY_LOCAL_MACHINE\\SOFTWARE\\Contoso': {
        '': { type: 'REG_SZ', data: '' },
        Path: { type: 'REG_EXPAND_SZ', data: '%ProgramFiles%' },
        Count: { type: 'REG_DWORD', data: 3 },
        Big: { type: 'REG_QWORD', data: 2 ** 40 },
        List: { type: 'REG_MULTI_SZ', data: ['a', ''] },
        Blob: { type: 'REG_BINARY', data: HEX },
        Res: { type: 'REG_FULL_RESOURCE_DESCRIPTOR', data: '' },
      },
      'HKEY_LOCAL_MACHINE\\SOFTWARE\\Empty': {},
    },
    msiProducts: { '{0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0}': { version: '5.0.1', language: -1 } },
    wmi: {
      Win32_BIOS: [{ SMBIOSBIOSVersion: 'P21', Flag: true, Count: 1.5, Missing: null }, {}],
      'root\\dell\\sysinv:Dell_SoftwareIdentity': [],
    },
    facts: { 'os.id': 'debian', 'os.major': 12, 'os.lts': false },
  },
  { platform: { name: 'linux', servicePackMajor: 1, servicePackMinor: 2 }, facts: {} },
];

/** The schema's result, keys in the order it gives them. */
const parsedText = (value: unknown): string => JSON.stringify(parseInventory(value));

test('a snapshot the check accepts is one the schema accepts unchanged', (t) => {
  for (const value of valid) {
    t.true(isInventory(value), JSON.stringify(value));
    t.is(parsedText(value), JSON.stringify(value));
  }
});

// Each is refused by the schema; the check must refuse it too, so that the schema names the field.
const refused: unknown[] = [
  null,
  [],
  'inventory',
  { platfrom: {} },
  { platform: {} },
  { platform: { name: '' } },
  { platform: { name: 'windows', architecture: 'mips' } },
  { platform: { name: 'windows', productType: -1 } },
  { platform: { name: 'windows', productType: 1.5 } },
  { platform: { name: 'windows', extra: 1 } },
  { files: [] },
  { files: { '': {} } },
  { files: { a: { version: 5 } } },
  { files: { a: { size: 2 ** 60 } } },
  { files: { a: { unknown: 1 } } },
  { registry: { k: { v: { type: 'REG_DWORD', data: 'x' } } } },
  { registry: { k: { v: { type: 'REG_SZ' } } } },
  { registry: { k: { v: { type: 'REG_SZ', data: 'x', more: 1 } } } },
  { registry: { k: { v: { type: 'REG_BINARY', data: 'abc' } } } },
  { registry: { k: { v: { type: 'REG_MULTI_SZ', data: [1] } } } },
  { registry: { k: { v: { type: 'toString', data: 'x' } } } },
  { registry: { k: { v: { type: 'REG_NONE', data: 'x' } } } },
  { msiProducts: { p: { language: 1.5 } } },
  { msiProducts: { p: { version: '' } } },
  { wmi: { C: [{ p: {} }] } },
  { wmi: { C: {} } },
  { facts: { a: null } },
  { facts: { a: [] } },
];

test('a snapshot the schema refuses is refused by the check', (t) => {
  for (const value of refused) {
    t.false(isInventory(value), JSON.stringify(value));
    t.throws(() => parseInventory(value));
  }
});

test('what the schema would rebuild is left to the schema', (t) => {
  // JSON.parse makes "__proto__" an own key; zod's copy would not keep it as one.
  const value: unknown = JSON.parse('{"facts":{"__proto__":"x"}}');
  t.false(isInventory(value));
  t.false(isInventory({ facts: Object.create({ inherited: 1 }) as object }));
  // Accepted by the schema, but given back with its keys in the schema's order.
  const reordered = { platform: { version: '10', name: 'windows' } };
  t.false(isInventory(reordered));
  t.is(parsedText(reordered), '{"platform":{"name":"windows","version":"10"}}');
});

test('on random changes to good snapshots, the check never accepts what the schema would not', (t) => {
  const next = random(16);
  let accepted = 0;
  for (let i = 0; i < 3000; i++) {
    const value = mutate(valid[i % valid.length], next);
    if (!isInventory(value)) continue;
    accepted++;
    t.is(parsedText(value), JSON.stringify(value));
  }
  // Some changes keep a snapshot valid (a key removed, a fact changed): the check saw them.
  t.true(accepted > 100, `${accepted} accepted`);
});
