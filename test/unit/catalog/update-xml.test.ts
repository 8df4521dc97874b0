import test from 'ava';
import fc from 'fast-check';
import { createHash } from 'node:crypto';
import { UpcatError } from '../../../src/errors.js';
import { CLASSIFICATIONS, type Handler } from '../../../src/catalog/manifest.js';
import {
  CMD_NS,
  MSP_NS,
  parseRevisionDocument,
  revisionFromXml,
  revisionToXml,
  UPCAT_NS,
  UPDATE_NS,
  type RevisionDocument,
  type RevisionFile,
} from '../../../src/catalog/update-xml.js';
import { parseXml, type XmlElement } from '../../../src/rules/safe-xml.js';
import { rule } from '../rules/arbitraries.js';

const BAR = 'http://schemas.microsoft.com/msus/2002/12/BaseApplicabilityRules';
const LAR = 'http://schemas.microsoft.com/msus/2002/12/LogicalApplicabilityRules';
const MSIAR = 'http://schemas.microsoft.com/msus/2002/12/MsiApplicabilityRules';
const XSI = 'http://www.w3.org/2001/XMLSchema-instance';

const digest = (algorithm: string, text: string) =>
  createHash(algorithm).update(text).digest('hex');

const fileOf = (name: string, content: string, kind: RevisionFile['kind']): RevisionFile => ({
  name,
  size: Buffer.byteLength(content),
  sha1: digest('sha1', content),
  sha256: digest('sha256', content),
  kind,
});

const ID = {
  update: '6f1c2f0e-8c4e-4a52-9b7d-3c2f5e1a9d10',
  a: '0a0a0a0a-1111-4111-8111-111111111111',
  b: '0b0b0b0b-2222-4222-8222-222222222222',
  c: '0c0c0c0c-3333-4333-8333-333333333333',
  d: '0d0d0d0d-4444-4444-8444-444444444444',
  old: '0e0e0e0e-5555-4555-8555-555555555555',
  older: '0f0f0f0f-6666-4666-8666-666666666666',
  child: '1a1a1a1a-7777-4777-8777-777777777777',
};

const commandLineDoc: RevisionDocument = {
  updateId: ID.update,
  revisionNumber: 3,
  title: 'Contoso Client 5.0.1',
  description: 'Fixes & improvements:\n- <faster> sync\n\t"quoted"',
  product: 'Contoso Client',
  classification: 'Updates',
  version: '5.0.1',
  created: '2024-05-01T12:00:00.000Z',
  handler: {
    type: 'commandLine',
    program: 'setup.sh',
    arguments: '--quiet --dir "/opt/contoso" & more',
    uninstall: { program: 'setup.sh', arguments: '--uninstall' },
    returnCodes: [
      { code: 0, result: 'Succeeded', reboot: false },
      { code: 3010, result: 'Succeeded', reboot: true },
      { code: -1, result: 'Cancelled', reboot: false },
    ],
    defaultResult: 'Failed',
  },
  isInstalled: { kind: 'FileExists', Path: '/opt/contoso/5.0.1/bin/client' },
  isInstallable: {
    kind: 'And',
    rules: [
      { kind: 'Platform', Name: 'linux' },
      { kind: 'Processor', Architecture: 'x64' },
      { kind: 'Not', rule: { kind: 'Fact', Name: 'os.id', Value: 'alpine' } },
    ],
  },
  prerequisites: [[ID.a], [ID.b, ID.c], [ID.d]],
  supersedes: [ID.old, ID.older],
  bundles: [ID.child],
  files: [
    fileOf('contoso-5.0.1.tar', 'package bytes', 'package'),
    fileOf('README.txt', 'read me', 'file'),
    fileOf('empty', '', 'file'),
  ],
};

const msiDoc: RevisionDocument = {
  updateId: '7a7a7a7a-8888-4888-8888-888888888888',
  revisionNumber: 1,
  title: 'Contoso Agent (MSI) 2.1',
  description: '',
  product: 'Contoso Agent',
  classification: 'Security Updates',
  version: '2.1.0.7',
  created: '2023-12-31T23:59:59.999Z',
  handler: {
    type: 'msi',
    productCode: '{0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0}',
    program: 'agent.msi',
    installCommandLine: 'REBOOT=ReallySuppress ALLUSERS=1',
    uninstallCommandLine: 'REBOOT=ReallySuppress',
    returnCodes: [
      { code: 0, result: 'Succeeded', reboot: false },
      { code: 1641, result: 'Succeeded', reboot: true },
      { code: 3010, result: 'Succeeded', reboot: true },
    ],
    defaultResult: 'Failed',
  },
  isInstalled: {
    kind: 'MsiProductInstalled',
    ProductCode: '{0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0}',
    VersionMin: '2.1.0.7',
  },
  isInstallable: {
    kind: 'Or',
    rules: [
      { kind: 'WindowsVersion', Comparison: 'GreaterThanOrEqualTo', MajorVersion: 10 },
      { kind: 'RegKeyExists', Key: 'HKEY_LOCAL_MACHINE', Subkey: 'SOFTWARE\\Contoso' },
    ],
  },
  prerequisites: [[ID.a, ID.b, ID.c], [ID.d]],
  supersedes: [ID.old],
  bundles: [ID.child, ID.older],
  files: [fileOf('agent.msi', 'msi bytes', 'file'), fileOf('agent.cab', 'cab bytes', 'file')],
};

/** The children of `e` by local name, in order. */
const kids = (e: XmlElement, local?: string) =>
  e.children.filter((c) => local === undefined || c.local === local);
const only = (e: XmlElement, local: string): XmlElement => {
  const found = kids(e, local);
  if (found.length !== 1) throw new Error(`expected one ${local} under ${e.local}`);
  return found[0] as XmlElement;
};
const attr = (e: XmlElement, local: string, uri = '') =>
  e.attributes.find((a) => a.local === local && a.uri === uri)?.value;

function rejects(t: import('ava').ExecutionContext, xml: string, message: RegExp): void {
  const err = t.throws(() => revisionFromXml(xml), { instanceOf: UpcatError });
  t.is(err?.code, 'invalid_input');
  t.regex(err?.message ?? '', message);
}

// ---- round trips ----

for (const [name, doc] of [
  ['commandLine', commandLineDoc],
  ['msi', msiDoc],
] as const) {
  test(`${name} revision: doc -> XML -> doc gives the same revision`, (t) => {
    const xml = revisionToXml(doc);
    t.deepEqual(revisionFromXml(xml), doc);
    t.deepEqual(revisionFromXml(xml, { rules: 'strict' }), doc);
  });

  test(`${name} revision: the same revision always gives the same bytes`, (t) => {
    const xml = revisionToXml(doc);
    t.is(revisionToXml(structuredClone(doc)), xml);
    t.is(revisionToXml(revisionFromXml(xml)), xml);
  });
}

test('a revision without rules, relationships or files round-trips and omits those elements', (t) => {
  const doc: RevisionDocument = {
    ...commandLineDoc,
    prerequisites: [],
    supersedes: [],
    bundles: [],
    files: [],
  };
  delete doc.isInstalled;
  delete doc.isInstallable;
  const xml = revisionToXml(doc);
  t.deepEqual(revisionFromXml(xml), doc);
  const names = kids(parseXml(xml)).map((c) => c.local);
  t.deepEqual(names, [
    'UpdateIdentity',
    'Properties',
    'LocalizedPropertiesCollection',
    'HandlerSpecificData',
  ]);
});

test('an msi handler without MsiFile, command lines or return codes round-trips', (t) => {
  const handler: Handler = {
    type: 'msi',
    productCode: '{0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0}',
    installCommandLine: '',
    uninstallCommandLine: '',
    returnCodes: [],
    defaultResult: 'Succeeded',
  };
  const doc = { ...msiDoc, handler };
  const xml = revisionToXml(doc);
  t.deepEqual(revisionFromXml(xml), doc);
  const data = only(only(parseXml(xml), 'HandlerSpecificData'), 'MsiData');
  t.deepEqual(
    data.attributes.map((a) => a.local),
    ['ProductCode', 'DefaultResult'],
  );
});

// ---- the document's shape: namespaces and MS-WUSP element names ----

test('the document uses the Update namespace and MS-WUSP element names, in WSUS order', (t) => {
  const root = parseXml(revisionToXml(commandLineDoc));
  t.is(root.local, 'Update');
  t.is(root.uri, UPDATE_NS);
  t.deepEqual(
    kids(root).map((c) => [c.uri, c.local]),
    [
      'UpdateIdentity',
      'Properties',
      'LocalizedPropertiesCollection',
      'Relationships',
      'ApplicabilityRules',
      'Files',
      'HandlerSpecificData',
    ].map((n) => [UPDATE_NS, n]),
  );
  const identity = only(root, 'UpdateIdentity');
  t.is(attr(identity, 'UpdateID'), ID.update);
  t.is(attr(identity, 'RevisionNumber'), '3');

  const props = only(root, 'Properties');
  t.is(attr(props, 'CreationDate'), '2024-05-01T12:00:00.000Z');
  t.is(attr(props, 'UpdateType'), 'Software');
  t.is(attr(props, 'Handler'), CMD_NS);
  t.is(attr(props, 'Product', UPCAT_NS), 'Contoso Client');
  t.is(attr(only(props, 'InstallationBehavior'), 'RebootBehavior'), 'CanRequestReboot');

  const localized = only(only(root, 'LocalizedPropertiesCollection'), 'LocalizedProperties');
  t.is(only(localized, 'Language').text, 'en');
  t.is(only(localized, 'Title').text, 'Contoso Client 5.0.1');
  t.is(only(localized, 'Description').text, commandLineDoc.description);
});

test('Relationships: bare UpdateIdentity for one, AtLeastOne for an OR-group', (t) => {
  const rel = only(parseXml(revisionToXml(commandLineDoc)), 'Relationships');
  t.deepEqual(
    kids(rel).map((c) => c.local),
    ['SupersededUpdates', 'Prerequisites', 'BundledUpdates'],
  );
  const prereq = only(rel, 'Prerequisites');
  t.deepEqual(
    kids(prereq).map((c) => c.local),
    ['UpdateIdentity', 'AtLeastOne', 'UpdateIdentity'],
  );
  const group = kids(prereq)[1] as XmlElement;
  t.deepEqual(
    kids(group).map((c) => [c.uri, c.local, attr(c, 'UpdateID')]),
    [
      [UPDATE_NS, 'UpdateIdentity', ID.b],
      [UPDATE_NS, 'UpdateIdentity', ID.c],
    ],
  );
  t.deepEqual(
    kids(only(rel, 'SupersededUpdates')).map((c) => attr(c, 'UpdateID')),
    [ID.old, ID.older],
  );
  t.deepEqual(
    kids(only(rel, 'BundledUpdates')).map((c) => attr(c, 'UpdateID')),
    [ID.child],
  );
});

test('Files: Digest is base64 SHA-1, AdditionalDigest base64 SHA-256', (t) => {
  const files = kids(only(parseXml(revisionToXml(commandLineDoc)), 'Files'), 'File');
  t.is(files.length, 3);
  const first = files[0] as XmlElement;
  t.is(first.uri, UPDATE_NS);
  t.is(attr(first, 'FileName'), 'contoso-5.0.1.tar');
  t.is(attr(first, 'Size'), String(Buffer.byteLength('package bytes')));
  t.is(attr(first, 'DigestAlgorithm'), 'SHA1');
  t.is(attr(first, 'Digest'), createHash('sha1').update('package bytes').digest('base64'));
  t.is(attr(first, 'Kind', UPCAT_NS), 'package');
  const extra = only(first, 'AdditionalDigest');
  t.is(extra.uri, UPDATE_NS);
  t.is(attr(extra, 'Algorithm'), 'SHA256');
  t.is(extra.text, createHash('sha256').update('package bytes').digest('base64'));
});

test('ApplicabilityRules carry the rule engine vocabularies of the update family', (t) => {
  const rules = only(parseXml(revisionToXml(msiDoc)), 'ApplicabilityRules');
  const installed = only(rules, 'IsInstalled');
  t.is(installed.uri, UPDATE_NS);
  t.deepEqual(
    kids(installed).map((c) => [c.uri, c.local]),
    [[MSIAR, 'MsiProductInstalled']],
  );
  const or = only(only(rules, 'IsInstallable'), 'Or');
  t.is(or.uri, LAR);
  t.deepEqual(
    kids(or).map((c) => [c.uri, c.local]),
    [
      [BAR, 'WindowsVersion'],
      [BAR, 'RegKeyExists'],
    ],
  );
});

test('HandlerSpecificData: cmd:InstallCommand with ReturnCode Code / Result / Reboot', (t) => {
  const data = only(parseXml(revisionToXml(commandLineDoc)), 'HandlerSpecificData');
  t.is(attr(data, 'type', XSI), 'cmd:CommandLineInstallation');
  const install = only(data, 'InstallCommand');
  t.is(install.uri, CMD_NS);
  t.is(attr(install, 'Program'), 'setup.sh');
  t.is(attr(install, 'Arguments'), '--quiet --dir "/opt/contoso" & more');
  t.is(attr(install, 'DefaultResult'), 'Failed');
  t.deepEqual(
    kids(install, 'ReturnCode').map((c) => [
      c.uri,
      attr(c, 'Code'),
      attr(c, 'Result'),
      attr(c, 'Reboot'),
    ]),
    [
      [CMD_NS, '0', 'Succeeded', 'false'],
      [CMD_NS, '3010', 'Succeeded', 'true'],
      [CMD_NS, '-1', 'Cancelled', 'false'],
    ],
  );
  t.is(only(data, 'UninstallCommand').uri, UPCAT_NS);
});

test('HandlerSpecificData: msp:MsiData with ProductCode, MsiFile and command lines', (t) => {
  const root = parseXml(revisionToXml(msiDoc));
  t.is(attr(only(root, 'Properties'), 'Handler'), MSP_NS);
  const data = only(root, 'HandlerSpecificData');
  t.is(attr(data, 'type', XSI), 'msp:WindowsInstallerApp');
  const msi = only(data, 'MsiData');
  t.is(msi.uri, MSP_NS);
  t.is(attr(msi, 'ProductCode'), '{0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0}');
  t.is(attr(msi, 'MsiFile'), 'agent.msi');
  t.is(attr(msi, 'CommandLine'), 'REBOOT=ReallySuppress ALLUSERS=1');
  t.is(attr(msi, 'UninstallCommandLine'), 'REBOOT=ReallySuppress');
});

// ---- reading: namespaces by URI, WSUS's own spellings ----

const handWritten = (body: { files?: string; prerequisites?: string; handler?: string } = {}) => `
<Update xmlns="${UPDATE_NS}" xmlns:u="${UPCAT_NS}">
  <UpdateIdentity UpdateID="6F1C2F0E-8C4E-4A52-9B7D-3C2F5E1A9D10" RevisionNumber="200" />
  <Properties CreationDate="2020-01-02T03:04:05Z" u:Product="P" u:Classification="Tools" u:Version="1.2" />
  <LocalizedPropertiesCollection>
    <LocalizedProperties><Language>en</Language><Title>Hand written</Title></LocalizedProperties>
  </LocalizedPropertiesCollection>
  <Relationships>
    <Prerequisites>${
      body.prerequisites ??
      `<AtLeastOne IsCategory="true"><UpdateIdentity UpdateID="${ID.a}" /></AtLeastOne>`
    }</Prerequisites>
    <BundledUpdates><UpdateIdentity UpdateID="${ID.child}" RevisionNumber="202" /></BundledUpdates>
  </Relationships>
  <Files>${
    body.files ??
    `<File Digest="${createHash('sha1').update('x').digest('base64')}" DigestAlgorithm="SHA1" FileName="x.exe" Size="1" Modified="2010-11-25T15:26:20.723"><AdditionalDigest Algorithm="SHA256">${createHash('sha256').update('x').digest('base64')}</AdditionalDigest></File>`
  }</Files>
  <HandlerSpecificData xmlns:xsi="${XSI}" xsi:type="c:CommandLineInstallation">${
    body.handler ??
    `<c:InstallCommand xmlns:c="${CMD_NS}" Program="x.exe" Arguments="/q" RebootByDefault="false"><c:ReturnCode Code="0" Result="Succeeded" /></c:InstallCommand>`
  }</HandlerSpecificData>
</Update>`;

test('reads any prefixes (or none) by namespace URI, and WSUS spellings of identities', (t) => {
  const doc = revisionFromXml(handWritten());
  t.is(doc.updateId, ID.update);
  t.is(doc.revisionNumber, 200);
  t.is(doc.description, '');
  t.deepEqual(doc.prerequisites, [[ID.a]]);
  t.deepEqual(doc.bundles, [ID.child]);
  t.deepEqual(doc.files, [
    {
      name: 'x.exe',
      size: 1,
      sha1: digest('sha1', 'x'),
      sha256: digest('sha256', 'x'),
      kind: 'file',
    },
  ]);
  t.deepEqual(doc.handler, {
    type: 'commandLine',
    program: 'x.exe',
    arguments: '/q',
    returnCodes: [{ code: 0, result: 'Succeeded', reboot: false }],
    defaultResult: 'Failed',
  });
});

test('normalizes what it writes: lowercase GUIDs and hex, blank description to empty', (t) => {
  const upper = {
    ...commandLineDoc,
    updateId: ID.update.toUpperCase(),
    description: ' \n ',
    files: commandLineDoc.files.map((f) => ({ ...f, sha1: f.sha1.toUpperCase() })),
  };
  const read = revisionFromXml(revisionToXml(upper));
  t.deepEqual(read, { ...commandLineDoc, description: '' });
  t.deepEqual(parseRevisionDocument(upper), read);
});

// ---- bad documents ----

test('bad documents give invalid_input errors that name the element', (t) => {
  const good = revisionToXml(commandLineDoc);
  const cases: Array<[string, string, RegExp]> = [
    [
      'missing UpdateIdentity',
      good.replace(/<upd:UpdateIdentity [^>]*\/>/u, ''),
      /^Update: missing UpdateIdentity$/u,
    ],
    [
      'Digest not base64',
      good.replace(/Digest="[^"]*"/u, 'Digest="not*base64"'),
      /^Update\.Files\.File\[0\]@Digest: must be the base64 SHA-1 digest \(20 bytes\)/u,
    ],
    [
      'Digest of the wrong length',
      good.replace(/Digest="[^"]*"/u, `Digest="${Buffer.alloc(32).toString('base64')}"`),
      /^Update\.Files\.File\[0\]@Digest: must be the base64 SHA-1/u,
    ],
    [
      'AdditionalDigest of the wrong length',
      good.replace(/(Algorithm="SHA256">)[^<]*/u, `$1${Buffer.alloc(20).toString('base64')}`),
      /^Update\.Files\.File\[0\]\.AdditionalDigest: must be the base64 SHA-256/u,
    ],
    [
      'AdditionalDigest missing',
      good.replace(/<upd:AdditionalDigest [^>]*>[^<]*<\/upd:AdditionalDigest>/u, ''),
      /^Update\.Files\.File\[0\]: missing AdditionalDigest$/u,
    ],
    [
      'another DigestAlgorithm',
      good.replace('DigestAlgorithm="SHA1"', 'DigestAlgorithm="MD5"'),
      /^Update\.Files\.File\[0\]@DigestAlgorithm: must be SHA1/u,
    ],
    [
      'bad UpdateID',
      good.replace(`UpdateID="${ID.update}"`, 'UpdateID="KB123"'),
      /^Update\.UpdateIdentity@UpdateID: must be a GUID/u,
    ],
    [
      'bad RevisionNumber',
      good.replace('RevisionNumber="3"', 'RevisionNumber="three"'),
      /^Update\.UpdateIdentity@RevisionNumber: must be a whole number/u,
    ],
    [
      'bad prerequisite',
      good.replace(`UpdateID="${ID.c}"`, 'UpdateID=""'),
      /^Update\.Relationships\.Prerequisites\.AtLeastOne\[1\]\.UpdateIdentity\[1\]@UpdateID: must be a GUID/u,
    ],
    [
      'unknown element',
      good.replace('<upd:Files>', '<upd:Files><upd:Surprise/>'),
      /^Update\.Files: unexpected element upd:Surprise/u,
    ],
    [
      'unknown attribute',
      good.replace('<upd:Relationships>', '<upd:Relationships Foo="1">'),
      /^Update\.Relationships: unknown attribute "Foo"/u,
    ],
    [
      'a prefix bound to another namespace',
      good.replace(`xmlns:upd="${UPDATE_NS}"`, 'xmlns:upd="urn:elsewhere"'),
      /^expected the root element Update in namespace/u,
    ],
    [
      'classification outside the list',
      good.replace('upcat:Classification="Updates"', 'upcat:Classification="Games"'),
      /^Update\.Properties@upcat:Classification:/u,
    ],
    [
      'Handler contradicting HandlerSpecificData',
      good.replace(`Handler="${CMD_NS}"`, `Handler="${MSP_NS}"`),
      /^Update\.Properties@Handler: .* does not match HandlerSpecificData/u,
    ],
    [
      'no handler',
      good.replace(/<upd:HandlerSpecificData[^>]*>.*<\/upd:HandlerSpecificData>/su, ''),
      /^Update: missing HandlerSpecificData$/u,
    ],
    [
      'two titles',
      good.replace(
        '<upd:Language>en</upd:Language>',
        '<upd:Language>en</upd:Language><upd:Title>x</upd:Title>',
      ),
      /^Update\.LocalizedPropertiesCollection\.LocalizedProperties: Title appears more than once$/u,
    ],
    [
      'bad return code',
      good.replace('Code="3010"', 'Code="lots"'),
      /^Update\.HandlerSpecificData\.InstallCommand\.ReturnCode\[1\]@Code: must be an integer/u,
    ],
  ];
  for (const [what, xml, message] of cases) {
    const err = t.throws(() => revisionFromXml(xml), { instanceOf: UpcatError }, what);
    t.is(err?.code, 'invalid_input', what);
    t.regex(err?.message ?? '', message, what);
  }
});

test('rule errors name their place under ApplicabilityRules (strict mode)', (t) => {
  const xml = revisionToXml(commandLineDoc).replace(
    '<bar:Platform Name="linux"/>',
    '<bar:Platform/>',
  );
  const err = t.throws(() => revisionFromXml(xml, { rules: 'strict' }), { instanceOf: UpcatError });
  t.regex(err?.message ?? '', /^Update\.ApplicabilityRules: isInstallable\.And\[0\]\.Platform/u);
  // Import mode keeps an element it cannot model as Unsupported (it evaluates to unknown).
  const read = revisionFromXml(xml);
  t.like(read.isInstallable, { kind: 'And' });
});

test('a DOCTYPE or entity declaration is refused before parsing', (t) => {
  const good = revisionToXml(commandLineDoc);
  const body = good.slice(good.indexOf('<upd:Update'));
  rejects(t, `<!DOCTYPE upd:Update>${body}`, /DOCTYPE/u);
  rejects(
    t,
    `<?xml version="1.0"?><!DOCTYPE lol [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]>${body.replace('Contoso Client 5.0.1', '&lol2;')}`,
    /DOCTYPE or ENTITY/u,
  );
  rejects(
    t,
    `<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>${body.replace('Contoso Client 5.0.1', '&xxe;')}`,
    /DOCTYPE or ENTITY/u,
  );
});

test('not XML, or an empty document, is invalid_input', (t) => {
  rejects(t, '', /XML/u);
  rejects(t, '<upd:Update xmlns:upd="x">', /XML is not well formed|expected the root/u);
  rejects(t, '{"updateId": "x"}', /XML/u);
});

test('the writer refuses a revision it could not read back', (t) => {
  const bad: RevisionDocument[] = [
    { ...commandLineDoc, files: [{ ...fileOf('a', 'a', 'file'), sha1: 'xyz' }] },
    { ...commandLineDoc, title: '   ' },
    { ...commandLineDoc, handler: { ...commandLineDoc.handler, program: 'setup\u0000.sh' } },
    { ...commandLineDoc, created: 'yesterday' },
    { ...commandLineDoc, prerequisites: [[]] },
  ];
  for (const doc of bad) {
    const err = t.throws(() => revisionToXml(doc), { instanceOf: UpcatError });
    t.is(err?.code, 'invalid_input');
  }
});

// ---- properties over generated revisions ----

const guidArb = fc.uuid();
/** Characters that exercise escaping, without the control characters one-line text refuses. */
const lineChar = fc.constantFrom(
  'a',
  'Z',
  '0',
  ' ',
  '&',
  '<',
  '>',
  '"',
  "'",
  'é',
  '😀',
  '\\',
  '%',
  ']',
);
const anyChar = fc.oneof(lineChar, fc.constantFrom('\n', '\t', '\r'));
const lineText = (max: number) =>
  fc.string({ unit: lineChar, minLength: 1, maxLength: max }).filter((s) => s.trim() !== '');
const freeText = fc.string({ unit: anyChar, maxLength: 20 });
/** Programs and command lines are one line (the manifest refuses control characters there). */
const commandText = fc.string({ unit: lineChar, maxLength: 20 });
const programText = fc.string({ unit: lineChar, minLength: 1, maxLength: 10 });

const returnCodes = fc.uniqueArray(
  fc.record({
    code: fc.integer({ min: -2147483648, max: 4294967295 }),
    result: fc.constantFrom('Succeeded' as const, 'Failed' as const, 'Cancelled' as const),
    reboot: fc.boolean(),
  }),
  { selector: (c) => c.code, maxLength: 4 },
);
const defaultResult = fc.constantFrom('Succeeded' as const, 'Failed' as const);

const handlerArb: fc.Arbitrary<Handler> = fc.oneof(
  fc
    .record({
      program: programText,
      arguments: commandText,
      uninstall: fc.option(
        fc.record({
          program: programText,
          arguments: commandText,
        }),
        { nil: undefined },
      ),
      returnCodes,
      defaultResult,
    })
    .map(({ uninstall, ...h }): Handler => ({
      type: 'commandLine',
      ...h,
      ...(uninstall === undefined ? {} : { uninstall }),
    })),
  fc
    .record({
      productCode: fc.uuid().map((u) => `{${u.toUpperCase()}}`),
      program: fc.option(programText, { nil: undefined }),
      installCommandLine: commandText,
      uninstallCommandLine: commandText,
      returnCodes,
      defaultResult,
    })
    .map(({ program, ...h }): Handler => ({
      type: 'msi',
      ...h,
      ...(program === undefined ? {} : { program }),
    })),
);

const hex = (bytes: number) =>
  fc.uint8Array({ minLength: bytes, maxLength: bytes }).map((b) => Buffer.from(b).toString('hex'));

const fileArb: fc.Arbitrary<RevisionFile> = fc.record({
  name: lineText(12),
  size: fc.nat({ max: Number.MAX_SAFE_INTEGER }),
  sha1: hex(20),
  sha256: hex(32),
  kind: fc.constantFrom('file' as const, 'package' as const),
});

const revisionArb: fc.Arbitrary<RevisionDocument> = fc
  .record({
    updateId: guidArb,
    revisionNumber: fc.integer({ min: 1, max: 2_147_483_647 }),
    title: lineText(20),
    description: freeText,
    product: lineText(12),
    classification: fc.constantFrom(...CLASSIFICATIONS),
    version: fc.array(fc.nat(99999), { minLength: 1, maxLength: 4 }).map((p) => p.join('.')),
    created: fc
      .date({ min: new Date(0), max: new Date(4e12), noInvalidDate: true })
      .map((d) => d.toISOString()),
    handler: handlerArb,
    isInstalled: fc.option(rule(3), { nil: undefined }),
    isInstallable: fc.option(rule(3), { nil: undefined }),
    prerequisites: fc.array(fc.array(guidArb, { minLength: 1, maxLength: 3 }), { maxLength: 4 }),
    supersedes: fc.array(guidArb, { maxLength: 3 }),
    bundles: fc.array(guidArb, { maxLength: 3 }),
    files: fc.array(fileArb, { maxLength: 4 }),
  })
  .map(({ isInstalled, isInstallable, ...rest }) => {
    const doc: RevisionDocument = rest;
    if (isInstalled !== undefined) doc.isInstalled = isInstalled;
    if (isInstallable !== undefined) doc.isInstallable = isInstallable;
    return doc;
  });

const RUNS = { numRuns: 300 };

test('property: any revision -> XML -> revision gives the same (normalized) revision', (t) => {
  fc.assert(
    fc.property(revisionArb, (doc) => {
      t.deepEqual(revisionFromXml(revisionToXml(doc)), parseRevisionDocument(doc));
    }),
    RUNS,
  );
});

test('property: the bytes are a function of the revision', (t) => {
  fc.assert(
    fc.property(revisionArb, (doc) => {
      const xml = revisionToXml(doc);
      t.is(revisionToXml(revisionFromXml(xml)), xml);
    }),
    RUNS,
  );
});

test('property: a damaged document reads or fails with an UpcatError, never otherwise', (t) => {
  fc.assert(
    fc.property(
      revisionArb,
      fc.nat(),
      fc.constantFrom('', '<', '>', '"', '&', 'x', '<a>'),
      (doc, at, junk) => {
        const xml = revisionToXml(doc);
        const i = at % (xml.length + 1);
        try {
          revisionFromXml(xml.slice(0, i) + junk + xml.slice(i + 1));
        } catch (err) {
          t.true(err instanceof UpcatError);
        }
      },
    ),
    RUNS,
  );
});
