/** fast-check arbitraries for rule trees and inventories, driven by the attribute table. */
import fc from 'fast-check';
import type { Inventory } from '../../../src/rules/inventory.js';
import {
  ARCHITECTURES,
  REGISTRY_KEYS,
  REGISTRY_VALUE_TYPES,
  SCALAR_COMPARISONS,
  STRING_COMPARISONS,
  type BaseRule,
  type ForeignElement,
  type Rule,
} from '../../../src/rules/model.js';
import { BASE_RULE_ATTRIBUTES, BASE_RULE_KINDS, type AttrType } from '../../../src/rules/schema.js';

/** Characters that exercise escaping in both forms. */
const tricky = fc.constantFrom(
  'a',
  'Z',
  '0',
  ' ',
  '&',
  '<',
  '>',
  '"',
  "'",
  '\n',
  '\t',
  '\r',
  'é',
  '😀',
  '\\',
  '/',
  '%',
  '_',
  '{',
  '}',
  ':',
);
const text = (minLength: number) => fc.string({ unit: tricky, minLength, maxLength: 12 });

const attrValue: Record<AttrType, fc.Arbitrary<string | number | boolean>> = {
  string: text(1),
  string0: text(0),
  version: fc.array(fc.nat(99999), { minLength: 1, maxLength: 4 }).map((p) => p.join('.')),
  uint16: fc.integer({ min: 0, max: 0xffff }),
  uint32: fc.integer({ min: 0, max: 0xffffffff }),
  int32: fc.integer({ min: -0x80000000, max: 0x7fffffff }),
  size: fc.nat(),
  bool: fc.boolean(),
  dateTime: fc
    .date({ min: new Date(0), max: new Date(4e12), noInvalidDate: true })
    .map((d) => d.toISOString()),
  guid: fc.uuid().map((u) => `{${u.toUpperCase()}}`),
  scalarComparison: fc.constantFrom(...SCALAR_COMPARISONS),
  stringComparison: fc.constantFrom(...STRING_COMPARISONS),
  architecture: fc.constantFrom(...ARCHITECTURES),
  registryKey: fc.constantFrom(...REGISTRY_KEYS),
  registryValueType: fc.constantFrom(...REGISTRY_VALUE_TYPES),
};

export const baseRule: fc.Arbitrary<BaseRule> = fc
  .constantFrom(...BASE_RULE_KINDS)
  .chain((kind) => {
    const fields: Record<string, fc.Arbitrary<string | number | boolean | undefined>> = {};
    for (const [name, spec] of Object.entries(BASE_RULE_ATTRIBUTES[kind])) {
      const value = attrValue[spec.type];
      fields[name] = spec.required ? value : fc.option(value, { nil: undefined });
    }
    return fc.record(fields).map((attrs) => {
      const rule: Record<string, unknown> = { kind };
      for (const [k, v] of Object.entries(attrs)) if (v !== undefined) rule[k] = v;
      if (kind === 'Platform' && rule.Version === undefined) delete rule.Comparison;
      return rule as unknown as BaseRule;
    });
  });

const foreignName = fc.constantFrom(
  'bar:RegKeyLoop',
  'bar:WindowsLanguage',
  'msiar:MsiPatchInstalled',
  'lar:Xor',
  '{urn:vendor}Check',
  'Plain',
);
const foreignAttrs = fc.dictionary(
  fc.constantFrom('Key', 'Language', '{urn:vendor}flag', 'bar:Extra', 'TrueIf'),
  text(0),
  { maxKeys: 3 },
);

/** Children sorted by name: the XML writer keeps order only within groups of one name. */
export const foreignElement: fc.Memo<ForeignElement> = fc.memo((n) =>
  fc
    .record({
      name: foreignName,
      attributes: foreignAttrs,
      children: n <= 1 ? fc.constant([]) : fc.array(foreignElement(n - 1), { maxLength: 3 }),
      text: fc.option(fc.stringMatching(/^[a-z]{1,8}$/), { nil: undefined }),
    })
    .map(({ text: t, ...e }) => {
      const element: ForeignElement = {
        ...e,
        children: [...e.children].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
      };
      if (t !== undefined) element.text = t;
      return element;
    }),
);

const leaf: fc.Arbitrary<Rule> = fc.oneof(
  { weight: 6, arbitrary: baseRule },
  { weight: 1, arbitrary: fc.constant<Rule>({ kind: 'True' }) },
  { weight: 1, arbitrary: fc.constant<Rule>({ kind: 'False' }) },
  {
    weight: 1,
    arbitrary: foreignElement(2).map((element): Rule => ({ kind: 'Unsupported', element })),
  },
);

export const rule: fc.Memo<Rule> = fc.memo((n) => {
  if (n <= 1) return leaf;
  const children = fc.array(rule(n - 1), { minLength: 1, maxLength: 4 });
  return fc.oneof(
    { weight: 3, arbitrary: leaf },
    { weight: 1, arbitrary: children.map((rules): Rule => ({ kind: 'And', rules })) },
    { weight: 1, arbitrary: children.map((rules): Rule => ({ kind: 'Or', rules })) },
    { weight: 1, arbitrary: rule(n - 1).map((r): Rule => ({ kind: 'Not', rule: r })) },
  );
});

/** Inventories from small pools, so that generated rules sometimes find what they name. */
export const inventory: fc.Arbitrary<Inventory> = fc.record(
  {
    platform: fc.record(
      {
        name: fc.constantFrom('windows', 'linux', 'Windows'),
        version: fc.constantFrom('10.0.19045', '6.1.7601', '12', 'x.y'),
        productType: fc.constantFrom(1, 3),
        architecture: fc.constantFrom(...ARCHITECTURES),
      },
      { requiredKeys: ['name'] },
    ),
    files: fc.dictionary(
      fc.constantFrom('C:\\Program Files\\a.exe', '/opt/x', 'a'),
      fc.record(
        { version: attrValue.version as fc.Arbitrary<string>, size: fc.nat() },
        { requiredKeys: [] },
      ),
    ),
    registry: fc.dictionary(
      fc.constantFrom('HKEY_LOCAL_MACHINE\\a', 'HKEY_LOCAL_MACHINE\\SOFTWARE\\Contoso'),
      fc.dictionary(
        fc.constantFrom('', 'a', 'Version'),
        fc.oneof(
          fc.record({
            type: fc.constant('REG_SZ' as const),
            data: fc.constantFrom('1.2', 'a', ''),
          }),
          fc.record({ type: fc.constant('REG_DWORD' as const), data: fc.nat() }),
        ),
      ),
    ),
    msiProducts: fc.dictionary(
      attrValue.guid as fc.Arbitrary<string>,
      fc.record(
        { version: fc.constantFrom('1.0', '2.5.1'), language: fc.constantFrom(0, 1033) },
        { requiredKeys: [] },
      ),
    ),
    wmi: fc.dictionary(
      fc.constantFrom('Win32_BIOS', 'Win32_ComputerSystem', 'root\\dell\\sysinv:Dell_X'),
      fc.array(
        fc.dictionary(
          fc.constantFrom('Manufacturer', 'Model', 'N'),
          fc.oneof(fc.string(), fc.integer(), fc.constant(null)),
        ),
      ),
    ),
    facts: fc.dictionary(
      fc.constantFrom('os.id', 'os.version', 'a'),
      fc.oneof(fc.string(), fc.constantFrom('12', 'debian')),
    ),
  },
  { requiredKeys: [] },
);
