import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { parseManifest } from '../../../src/catalog/manifest.js';
import { UpcatError } from '../../../src/errors.js';
import { normalizeRules } from '../../../src/publish/rules-check.js';
import {
  importCatalog,
  importSdp,
  looksLikeSdp,
  SDP_NAMESPACES,
} from '../../../src/publish/sdp/index.js';
import {
  applicability,
  applicabilityRulesToXml,
  parseRuleJson,
  parseRuleXml,
  ruleToXml,
} from '../../../src/rules/index.js';
import { DELL_DRIVER, DELL_MSI, fixture, withWindowsLanguage, xmllint } from './fixtures.js';

test('Dell MSI package: properties, rules, MsiInstallerData onto a valid manifest', (t) => {
  const result = importSdp(fixture(DELL_MSI));
  t.deepEqual(result.errors, []);
  t.deepEqual(result.unsupportedRules, []);
  const manifest = parseManifest(result.manifest);
  t.is(manifest.updateId, 'dc718411-a5f1-4b15-966a-63a77cbb156e');
  t.is(manifest.title, 'Dell OpenManage Inventory Agent (for Dell Business Client Systems)');
  t.is(manifest.product, 'Drivers and Applications');
  t.is(manifest.classification, 'Updates');
  t.is(manifest.version, '1.6.6.5');
  t.is(result.versionSource, 'IsInstalled MsiProductInstalled');
  t.false(result.versionGuessed);
  t.deepEqual(manifest.handler, {
    type: 'msi',
    productCode: '{FB2B7CC0-8307-47E6-A065-11015CC96B99}',
    installCommandLine: 'Reboot=ReallySuppress',
    uninstallCommandLine: '',
    returnCodes: manifest.handler.returnCodes,
    defaultResult: 'Failed',
  });
  t.is(result.fileName, 'DSIAPC_1.6.6.5.msi');
  t.deepEqual(manifest.isInstalled, {
    MsiProductInstalled: {
      ProductCode: '{FB2B7CC0-8307-47e6-A065-11015CC96B99}',
      VersionMin: '1.6.6.5',
    },
  });
  // Package and item IsInstallable are and-ed, as the SDP schema says.
  const installable = parseRuleJson(manifest.isInstallable, 'isInstallable');
  t.is(installable.kind, 'And');
  t.notThrows(() => normalizeRules(manifest));
  // What the manifest has no field for is carried as vendor metadata (issue 11), not dropped.
  t.like(result.vendor, {
    vendor: 'Dell',
    creationDate: '2019-01-24T07:52:15Z',
    moreInfoUrls: ['http://downloads.dell.com/cmsdk/DSIA_Readme.doc'],
    supportUrl: 'http://www.dell.com',
    severity: 'Important',
    kbArticleId: '45YPT',
    securityBulletinId: '45YPT',
    installProperties: { rebootBehavior: 'NeverReboots' },
  });
  t.like(result.vendor.originFile, {
    fileName: 'DSIAPC_1.6.6.5.msi',
    sha1: Buffer.from('7sJyfjiOzAzMVjZ7FqJLS0hQsG0=', 'base64').toString('hex'),
    size: 26825728,
    uri: 'http://downloads.dell.com/FOLDER05427436M/1/DSIAPC_1.6.6.5.msi',
  });
  // As a publish manifest (importSdp), the vendor fields are reported as not carried.
  const names = result.unmapped.map((u) => u.name);
  for (const name of ['VendorName', 'sdp:MoreInfoUrl', 'MsrcSeverity', 'sdp:KBArticleID']) {
    t.true(names.includes(name), `${name} is reported by publish --manifest`);
  }
  // In a catalog import they are carried (vendor_revisions), so not reported.
  const [inCatalog] = importCatalog(
    `<smc:SystemsManagementCatalog xmlns:smc="${SDP_NAMESPACES.smc}">${fixture(DELL_MSI).replace(/^<\?xml[^>]*>/, '')}</smc:SystemsManagementCatalog>`,
  );
  const carried = (inCatalog?.unmapped ?? []).map((u) => u.name);
  for (const name of [
    'VendorName',
    'sdp:MoreInfoUrl',
    'MsrcSeverity',
    'sdp:KBArticleID',
    'sdp:InstallProperties',
  ]) {
    t.false(carried.includes(name), `${name} is carried by import-catalog`);
  }
});

test('Dell driver package: hundreds of WmiQuery rules, command line with return codes', (t) => {
  const result = importSdp(fixture(DELL_DRIVER));
  const manifest = parseManifest(result.manifest);
  t.is(manifest.version, '6.0.1.8454');
  t.deepEqual(manifest.handler, {
    type: 'commandLine',
    program: 'Realtek-High-Definition-Audio-Driver_99DDD_WIN_6.0.1.8454_A02_03.EXE',
    arguments: '/s',
    returnCodes: [
      { code: 0, result: 'Succeeded', reboot: false },
      { code: 2, result: 'Succeeded', reboot: true },
    ],
    defaultResult: 'Failed',
  });
  const stored = normalizeRules(manifest);
  const count = (json: string | null) => (json?.match(/"WmiQuery"/g) ?? []).length;
  t.is(count(stored.isInstallable) + count(stored.isInstalled), 615, 'every bar:WmiQuery kept');
  // The rules evaluate: a Dell machine without Dell's WMI provider cannot tell.
  const rules = {
    isInstalled: parseRuleJson(manifest.isInstalled),
    isInstallable: parseRuleJson(manifest.isInstallable),
  };
  const inventory = {
    platform: {
      name: 'windows',
      version: '10.0.19045',
      servicePackMajor: 0,
      servicePackMinor: 0,
      architecture: 'x64' as const,
    },
    wmi: { Win32_ComputerSystem: [{ Manufacturer: 'Dell Inc.', Model: 'Latitude 7490' }] },
  };
  t.is(applicability(rules, inventory).isInstallable.value, 'unknown');
});

test('JSON and XML forms of imported rules agree (publishing family round trip)', (t) => {
  const manifest = parseManifest(importSdp(fixture(DELL_DRIVER)).manifest);
  const rule = parseRuleJson(manifest.isInstallable);
  t.deepEqual(parseRuleXml(ruleToXml(rule, { family: 'publishing' })).rule, rule);
  t.true(applicabilityRulesToXml({ isInstallable: rule }).length > 0);
});

test('a rule element outside the vocabulary is kept verbatim, reported, and evaluates to unknown', async (t) => {
  const xml = withWindowsLanguage(fixture(DELL_MSI));
  // Still a valid SDP by Microsoft's schema: the element is real, the engine just lacks it.
  const dir = await mkdtemp(path.join(os.tmpdir(), 'upcat-sdp-'));
  try {
    const file = path.join(dir, 'x.sdp');
    await writeFile(file, xml);
    const lint = await xmllint(file);
    t.true(lint.valid, lint.output);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  const result = importSdp(xml);
  t.deepEqual(
    result.unsupportedRules.map((u) => u.name),
    ['bar:WindowsLanguage'],
  );
  t.regex(result.unsupportedRules[0]?.path ?? '', /IsInstallable\.And\[0\]\.WindowsLanguage/);
  const manifest = parseManifest(result.manifest);
  const rule = parseRuleJson(manifest.isInstallable);
  t.deepEqual(
    rule.kind === 'And' && rule.rules[0]?.kind === 'And' ? rule.rules[0].rules[0] : undefined,
    {
      kind: 'Unsupported',
      element: { name: 'bar:WindowsLanguage', attributes: { Language: 'en' }, children: [] },
    },
  );
  const inventory = {
    platform: { name: 'windows', version: '10.0', servicePackMajor: 4, servicePackMinor: 0 },
    wmi: { Win32_ComputerSystem: [{ Manufacturer: 'Dell', Model: 'Latitude 1' }] },
  };
  t.is(applicability({ isInstallable: rule }, inventory).isInstallable.value, 'unknown');
});

test('the fixtures are valid SDPs by the schemas (xmllint)', async (t) => {
  for (const name of [DELL_MSI, DELL_DRIVER]) {
    const lint = await xmllint(path.resolve(process.cwd(), '../shared/fixtures/sdp', name));
    t.true(lint.valid, lint.output);
  }
});

test('what cannot be mapped is an error list, and no manifest', (t) => {
  const xml = fixture(DELL_DRIVER).replace(
    /<cmd:CommandLineInstallerData[\s\S]*<\/cmd:CommandLineInstallerData>/,
    '',
  );
  const result = importSdp(xml);
  t.is(result.manifest, undefined);
  t.regex(result.errors.join(), /InstallableItem\[0\]: no installer/);
});

test('entities and DOCTYPEs are refused, never expanded', (t) => {
  const xml = `<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>${fixture(DELL_MSI).replace('<sdp:Title>', '<sdp:Title>&e;')}`;
  const err = t.throws(() => importSdp(xml), { instanceOf: UpcatError });
  t.regex(err?.message ?? '', /DOCTYPE/);
});

test('a document that is not an SDP is named in the error', (t) => {
  const err = t.throws(() => importSdp('<Manifest xmlns="urn:x"/>', 'manifest m.xml'), {
    instanceOf: UpcatError,
  });
  t.regex(err?.message ?? '', /manifest m\.xml: expected an sdp:SoftwareDistributionPackage/);
});

test('SDP detection by root element', (t) => {
  t.true(looksLikeSdp(fixture(DELL_MSI)));
  t.true(looksLikeSdp('<?xml version="1.0"?>\n<!-- c --><SoftwareDistributionPackage xmlns="x">'));
  t.false(looksLikeSdp('{"title": "<sdp:SoftwareDistributionPackage>"}'));
  t.false(looksLikeSdp('<a><sdp:SoftwareDistributionPackage/></a>'));
});
