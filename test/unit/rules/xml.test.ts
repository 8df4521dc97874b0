import test from 'ava';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { UpcatError } from '../../../src/errors.js';
import { parseRuleJson, ruleToJson } from '../../../src/rules/json.js';
import type { Rule } from '../../../src/rules/model.js';
import { parseXml, type XmlElement } from '../../../src/rules/safe-xml.js';
import {
  applicabilityRulesFromXmlElement,
  applicabilityRulesToXml,
  parseApplicabilityRulesXml,
  parseRuleXml,
  ruleFromXmlElement,
  ruleToXml,
} from '../../../src/rules/xml.js';

const LAR = 'http://schemas.microsoft.com/msus/2002/12/LogicalApplicabilityRules';
const BAR = 'http://schemas.microsoft.com/msus/2002/12/BaseApplicabilityRules';
const PUB_BAR =
  'http://schemas.microsoft.com/wsus/2005/04/CorporatePublishing/BaseApplicabilityRules.xsd';
const PUB_MSIAR =
  'http://schemas.microsoft.com/wsus/2005/04/CorporatePublishing/MsiApplicabilityRules.xsd';

const fixture = (name: string) =>
  readFileSync(resolve(process.cwd(), '../shared/fixtures/sdp', `${name}.sdp`), 'utf8');

/** The rule trees under every IsInstalled / IsInstallable of an SDP. */
function ruleElements(root: XmlElement): { name: string; element: XmlElement }[] {
  const found: { name: string; element: XmlElement }[] = [];
  const walk = (e: XmlElement) => {
    if (e.local === 'IsInstalled' || e.local === 'IsInstallable') {
      found.push({ name: e.local, element: e.children[0] as XmlElement });
    } else e.children.forEach(walk);
  };
  walk(root);
  return found;
}

function count(rule: Rule, kind: Rule['kind']): number {
  const own = rule.kind === kind ? 1 : 0;
  if (rule.kind === 'And' || rule.kind === 'Or')
    return own + rule.rules.reduce((n, r) => n + count(r, kind), 0);
  if (rule.kind === 'Not') return own + count(rule.rule, kind);
  return own;
}

for (const [name, wmiQueries] of [
  ['0e6cf4ac-2853-48aa-825b-8fe28206575f', 615],
  ['dc718411-a5f1-4b15-966a-63a77cbb156e', 1],
] as const) {
  test(`fixture ${name}: every rule tree parses strictly and round-trips`, (t) => {
    const trees = ruleElements(parseXml(fixture(name)));
    t.is(trees.length, 3);
    let queries = 0;
    for (const { element } of trees) {
      const { rule, unsupported } = ruleFromXmlElement(element, { mode: 'strict' });
      t.deepEqual(unsupported, []);
      queries += count(rule, 'WmiQuery');
      for (const family of ['update', 'publishing'] as const) {
        t.deepEqual(parseRuleXml(ruleToXml(rule, { family })).rule, rule);
      }
      t.deepEqual(parseRuleJson(JSON.parse(JSON.stringify(ruleToJson(rule)))), rule);
    }
    t.is(queries, wmiQueries);
  });
}

test('fixture values: numeric processor code, MSI product, WMI namespace', (t) => {
  const trees = ruleElements(parseXml(fixture('0e6cf4ac-2853-48aa-825b-8fe28206575f')));
  const installable = ruleFromXmlElement(trees[0]?.element as XmlElement).rule;
  t.deepEqual(ruleToJson(installable), {
    And: [
      {
        WindowsVersion: {
          Comparison: 'GreaterThanOrEqualTo',
          MajorVersion: 5,
          MinorVersion: 0,
          ServicePackMajor: 4,
          ServicePackMinor: 0,
        },
      },
      {
        WmiQuery: {
          Namespace: 'Root\\CIMv2',
          WqlQuery:
            "SELECT * FROM Win32_ComputerSystem WHERE (Manufacturer >= 'Dell' AND Manufacturer < 'Dell~' )",
        },
      },
    ],
  });
  t.regex(ruleToXml(parseRuleJson({ Processor: { Architecture: 'x64' } })), /Architecture="9"/);
  const msi = ruleElements(parseXml(fixture('dc718411-a5f1-4b15-966a-63a77cbb156e')))[1];
  t.is(msi?.name, 'IsInstalled');
  t.deepEqual(ruleToJson(ruleFromXmlElement(msi?.element as XmlElement).rule), {
    MsiProductInstalled: {
      ProductCode: '{FB2B7CC0-8307-47e6-A065-11015CC96B99}',
      VersionMin: '1.6.6.5',
    },
  });
});

test('the SDP ApplicabilityRules element parses into the pair', (t) => {
  const sdp = parseXml(fixture('dc718411-a5f1-4b15-966a-63a77cbb156e'));
  const item = sdp.children.find((c) => c.local === 'InstallableItem') as XmlElement;
  const rules = item.children.find((c) => c.local === 'ApplicabilityRules') as XmlElement;
  const { rules: pair } = applicabilityRulesFromXmlElement(rules);
  t.is(pair.isInstalled?.kind, 'MsiProductInstalled');
  t.is(pair.isInstallable?.kind, 'WindowsVersion');
});

test('prefixes do not matter, namespace URIs do', (t) => {
  const xml = `<x:And xmlns:x="${LAR}" xmlns:y="${PUB_BAR}" xmlns:z="${PUB_MSIAR}"><y:Processor Architecture="12"/><z:MsiProductInstalled ProductCode="{FB2B7CC0-8307-47e6-A065-11015CC96B99}"/><True xmlns="${LAR}"/></x:And>`;
  t.deepEqual(ruleToJson(parseRuleXml(xml).rule), {
    And: [
      { Processor: { Architecture: 'arm64' } },
      { MsiProductInstalled: { ProductCode: '{FB2B7CC0-8307-47e6-A065-11015CC96B99}' } },
      { True: {} },
    ],
  });
  // the right prefix on the wrong namespace is not the vocabulary
  t.throws(() => parseRuleXml(`<bar:FileExists xmlns:bar="urn:not-wsus" Path="x"/>`), {
    message: /rule: unknown element bar:FileExists \(namespace urn:not-wsus\)/,
  });
  t.throws(() => parseRuleXml(`<bar:And xmlns:bar="${BAR}"/>`), {
    message: /unknown element bar:And/,
  });
});

test('processor codes: 0 x86, 5 arm, 9 x64, 12 arm64, and names', (t) => {
  for (const [code, name] of [
    ['0', 'x86'],
    ['5', 'arm'],
    ['9', 'x64'],
    ['12', 'arm64'],
    ['x64', 'x64'],
  ]) {
    const rule = parseRuleXml(`<bar:Processor xmlns:bar="${BAR}" Architecture="${code}"/>`).rule;
    t.deepEqual(rule, { kind: 'Processor', Architecture: name });
  }
  t.throws(() => parseRuleXml(`<bar:Processor xmlns:bar="${BAR}" Architecture="6"/>`), {
    message: /rule\.Processor\.Architecture: expected a processor architecture/,
  });
});

test('strict mode: unknown elements and attributes are errors naming them', (t) => {
  const cases: [string, RegExp][] = [
    [
      `<lar:And xmlns:lar="${LAR}" xmlns:bar="${BAR}"><lar:True/><bar:RegKeyLoop Key="HKEY_LOCAL_MACHINE" Subkey="S" TrueIf="Any"><lar:True/></bar:RegKeyLoop></lar:And>`,
      /^rule\.And\[1\]: unknown element bar:RegKeyLoop/,
    ],
    [
      `<lar:And xmlns:lar="${LAR}" xmlns:bar="${BAR}"><bar:FileVersion Path="x" Comparison="Equal" Version="1.0"/></lar:And>`,
      /^rule\.And\[0\]\.FileVersion\.Comparison: expected one of EqualTo/,
    ],
    [
      `<bar:FileExists xmlns:bar="${BAR}" Path="x" Pth="y"/>`,
      /^rule\.FileExists: unknown attribute "Pth"/,
    ],
    [
      `<bar:FileExists xmlns:bar="${BAR}" xmlns:o="urn:o" Path="x" o:Path="y"/>`,
      /unknown attribute "Path"/,
    ],
    [
      `<bar:FileExists xmlns:bar="${BAR}"/>`,
      /^rule\.FileExists\.Path: required attribute is missing/,
    ],
    [`<bar:FileExists xmlns:bar="${BAR}" Path="x">text</bar:FileExists>`, /unexpected text/],
    [`<lar:And xmlns:lar="${LAR}"/>`, /rule\.And: needs at least one rule/],
    [
      `<lar:Not xmlns:lar="${LAR}"><lar:True/><lar:True/></lar:Not>`,
      /rule\.Not: needs exactly one rule/,
    ],
    [`<lar:True xmlns:lar="${LAR}" x="1"/>`, /unknown attribute "x"/],
    [`<FileExists Path="x"/>`, /unknown element FileExists \(no namespace\)/],
  ];
  for (const [xml, message] of cases) {
    const err = t.throws(() => parseRuleXml(xml), { instanceOf: UpcatError, message });
    t.is(err?.code, 'invalid_input');
  }
});

test('import mode keeps foreign elements verbatim and reports them', (t) => {
  const xml = `<lar:And xmlns:lar="${LAR}" xmlns:bar="${BAR}" xmlns:v="urn:vendor"><bar:RegKeyLoop Key="HKEY_LOCAL_MACHINE" Subkey="S" TrueIf="Any"><bar:RegSz Key="HKEY_LOOP_TARGET" Subkey="x" Value="v" Comparison="EqualTo" Data="d"/></bar:RegKeyLoop><bar:Processor Architecture="6"/><v:Check v:level="2">hello</v:Check></lar:And>`;
  const { rule, unsupported } = parseRuleXml(xml, { mode: 'import' });
  t.deepEqual(
    unsupported.map((u) => [u.name, u.path]),
    [
      ['bar:RegKeyLoop', 'rule.And[0].RegKeyLoop'],
      ['bar:Processor', 'rule.And[1].Processor'],
      ['v:Check', 'rule.And[2].Check'],
    ],
  );
  t.deepEqual(ruleToJson(rule), {
    And: [
      {
        Unsupported: {
          name: 'bar:RegKeyLoop',
          attributes: { Key: 'HKEY_LOCAL_MACHINE', Subkey: 'S', TrueIf: 'Any' },
          children: [
            {
              name: 'bar:RegSz',
              attributes: {
                Key: 'HKEY_LOOP_TARGET',
                Subkey: 'x',
                Value: 'v',
                Comparison: 'EqualTo',
                Data: 'd',
              },
            },
          ],
        },
      },
      { Unsupported: { name: 'bar:Processor', attributes: { Architecture: '6' } } },
      {
        Unsupported: {
          name: '{urn:vendor}Check',
          attributes: { '{urn:vendor}level': '2' },
          text: 'hello',
        },
      },
    ],
  });
  // kept verbatim: written in the other family and read back, it is the same tree
  const again = parseRuleXml(ruleToXml(rule, { family: 'publishing' }), { mode: 'import' });
  t.deepEqual(again.rule, rule);
  t.regex(
    ruleToXml(rule, { family: 'publishing' }),
    new RegExp(`xmlns:bar="${PUB_BAR.replace(/\./g, '\\.')}"`),
  );
});

test('ApplicabilityRules: either child optional, IsInstalled written first', (t) => {
  const isInstalled = parseRuleJson({ FileExists: { Path: 'C:\\a.exe' } });
  const isInstallable = parseRuleJson({ Platform: { Name: 'windows' } });
  const xml = applicabilityRulesToXml({ isInstallable, isInstalled });
  t.true(
    xml.startsWith(
      '<upd:ApplicabilityRules xmlns:upd="http://schemas.microsoft.com/msus/2002/12/Update"',
    ),
  );
  t.true(xml.indexOf('IsInstalled>') < xml.indexOf('IsInstallable>'));
  t.deepEqual(parseApplicabilityRulesXml(xml).rules, { isInstalled, isInstallable });
  t.deepEqual(parseApplicabilityRulesXml(applicabilityRulesToXml({})).rules, {});
  const pub = applicabilityRulesToXml({ isInstallable }, { family: 'publishing' });
  t.regex(
    pub,
    /^<sdp:ApplicabilityRules xmlns:sdp="http:\/\/schemas\.microsoft\.com\/wsus\/2005\/04\/CorporatePublishing\/SoftwareDistributionPackage\.xsd"/,
  );
  t.deepEqual(parseApplicabilityRulesXml(pub).rules, { isInstallable });
  t.throws(() => parseApplicabilityRulesXml('<ApplicabilityRules/>'), {
    message: /expected an ApplicabilityRules element/,
  });
  const superseded = `<u:ApplicabilityRules xmlns:u="http://schemas.microsoft.com/msus/2002/12/Update" xmlns:lar="${LAR}"><u:IsSuperseded><lar:False/></u:IsSuperseded></u:ApplicabilityRules>`;
  t.throws(() => parseApplicabilityRulesXml(superseded), {
    message: /unexpected element u:IsSuperseded/,
  });
  t.deepEqual(
    parseApplicabilityRulesXml(superseded, { mode: 'import' }).unsupported.map((u) => u.name),
    ['u:IsSuperseded'],
  );
});

test('child order is kept across element names', (t) => {
  const rule = parseRuleJson({
    Or: [
      { WmiQuery: { WqlQuery: 'select * from A' } },
      { Not: { True: {} } },
      { WmiQuery: { WqlQuery: 'select * from B' } },
      { Fact: { Name: 'a', Value: 'b' } },
    ],
  });
  t.deepEqual(parseRuleXml(ruleToXml(rule)).rule, rule);
});
