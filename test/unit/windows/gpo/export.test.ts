/**
 * `upcat gpo export`'s files checked with independent tools: Samba reads the Registry.pol,
 * a .reg parser written from the format reads the .reg, openssl gives the certificate's DER and
 * SHA-1 fingerprint, xmllint checks the ADMX/ADML (well formed, cross-referenced, and valid
 * against an XSD written from [MS-GPREG] section 7).
 */
import { mkdtemp, mkdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { configSchema, type ConfigInput, type SiteConfig } from '../../../../src/config/schema.js';
import { createCa, issueCertificate, rsaKeyPair } from '../../../../src/signing/ca.js';
import {
  buildGpoExport,
  FILES,
  type GpoExportOptions,
  type GpoSigning,
} from '../../../../src/windows/gpo/export.js';
import { quote } from '../../../../src/windows/gpo/ps1.js';
import { plainHttpWarning } from '../../../../src/windows/gpo/transport.js';
import { opensslText, parseRegFile, sambaReadPol, xmllint, type Value } from './tools.js';

const ca = createCa({ subject: { commonName: 'upcat TST site CA' }, modulusLength: 2048 });
const publisherPem = issueCertificate(ca, {
  subject: { commonName: 'upcat TST publisher' },
  publicKey: { pem: rsaKeyPair(2048).publicKeyPem },
  usage: 'codeSigning',
});
const SIGNING: GpoSigning = {
  publisherCertificatePem: publisherPem,
  caCertificatePem: ca.certificatePem,
};

function siteConfig(input: ConfigInput = {}): SiteConfig {
  const c = configSchema.parse({ site: { code: 'TST' }, ...input });
  return { ...c, home: '/site', dirs: { catalog: '/c', signing: '/s', packages: '/p' } };
}

const OPTIONS: GpoExportOptions = {
  formats: ['admx', 'reg', 'pol', 'ps1', 'cer'],
  host: 'upcat.example.com',
  targetGroup: 'Ring 1;Servers',
  auOption: 4,
  scheduledInstallDay: 0,
  scheduledInstallTime: 3,
  detectionFrequencyHours: 8,
  agentPolicy: true,
  fallbackStatusPoint: 'http://fsp.example.com:8530',
  // A backslash, a quote and non-ASCII text: the three renderings must agree on them.
  properties: { installDir: 'C:\\Program Files\\upcat "x" é', ring: '1' },
};

async function written(config: SiteConfig, options = OPTIONS, signing = SIGNING) {
  const result = buildGpoExport(config, signing, options);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'upcat-gpo-'));
  for (const f of result.files) {
    await mkdir(path.dirname(path.join(dir, f.path)), { recursive: true });
    await writeFile(path.join(dir, f.path), f.data);
  }
  return { result, dir, file: (p: string) => path.join(dir, p) };
}

const sortValues = (vs: Value[]): Value[] =>
  [...vs]
    .map(({ key, value, type, data }) => ({ key, value, type, data }))
    .sort((a, b) => `${a.key}\0${a.value}`.localeCompare(`${b.key}\0${b.value}`));

test('Registry.pol as Samba reads it holds exactly the .reg file values', async (t) => {
  const { result, file } = await written(siteConfig());
  const pol = await sambaReadPol(file(FILES.pol));
  t.is(pol.signature, 'PReg');
  t.is(pol.version, 1);
  t.is(pol.count, result.entries.length);
  const reg = parseRegFile(await readFile(file(FILES.reg)));
  t.is(reg.header, 'Windows Registry Editor Version 5.00');
  t.true(reg.crlf);
  t.deepEqual(sortValues(pol.entries), sortValues(reg.values));
  // And both are what was meant.
  const byName = new Map(reg.values.map((v) => [`${v.key}\\${v.value}`, v.data]));
  const WU = 'Software\\Policies\\Microsoft\\Windows\\WindowsUpdate';
  t.is(byName.get(`${WU}\\WUServer`), 'http://upcat.example.com:8530');
  t.is(byName.get(`${WU}\\WUStatusServer`), 'http://upcat.example.com:8530');
  t.is(byName.get(`${WU}\\UpdateServiceUrlAlternate`), 'http://upcat.example.com:8530');
  t.is(byName.get(`${WU}\\TargetGroupEnabled`), 1);
  t.is(byName.get(`${WU}\\TargetGroup`), 'Ring 1;Servers');
  t.is(byName.get(`${WU}\\AcceptTrustedPublisherCerts`), 1);
  t.is(byName.get(`${WU}\\AU\\UseWUServer`), 1);
  t.is(byName.get(`${WU}\\AU\\AUOptions`), 4);
  t.is(byName.get(`${WU}\\AU\\DetectionFrequencyEnabled`), 1);
  t.is(byName.get(`${WU}\\AU\\DetectionFrequency`), 8);
  t.is(byName.get('Software\\Policies\\upcat\\SiteCode'), 'TST');
  t.is(byName.get('Software\\Policies\\upcat\\ServerUrl'), 'http://upcat.example.com:8530');
  t.is(byName.get('Software\\Policies\\upcat\\FallbackStatusPoint'), 'http://fsp.example.com:8530');
  t.is(
    byName.get('Software\\Policies\\upcat\\InstallationProperties\\installDir'),
    'C:\\Program Files\\upcat "x" é',
  );
});

test('a one-record Registry.pol is byte for byte the MS-GPREG 2.2.1 layout', async (t) => {
  const { encodeRegistryPol } = await import('../../../../src/windows/gpo/pol.js');
  const bytes = encodeRegistryPol([
    { key: 'A\\B', value: 'V', type: 'REG_DWORD', data: 0x01020304 },
  ]);
  // Built by hand: "PReg", version 1, then [ A\B\0 ; V\0 ; 4 ; 4 ; 04 03 02 01 ] in UTF-16LE.
  const golden =
    '50526567' +
    '01000000' +
    '5b00' +
    '41005c0042000000' +
    '3b00' +
    '56000000' +
    '3b00' +
    '04000000' +
    '3b00' +
    '04000000' +
    '3b00' +
    '04030201' +
    '5d00';
  t.is(bytes.toString('hex'), golden);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'upcat-pol-'));
  await writeFile(path.join(dir, 'one.pol'), bytes);
  const pol = await sambaReadPol(path.join(dir, 'one.pol'));
  t.deepEqual(pol.entries, [
    { key: 'A\\B', value: 'V', type: 'REG_DWORD', size: 4, data: 0x01020304 },
  ]);
  const sz = encodeRegistryPol([{ key: 'K', value: 'S', type: 'REG_SZ', data: 'é' }]);
  t.is(
    sz.subarray(8).toString('hex'),
    '5b004b0000003b00530000003b00010000003b00040000003b00e90000005d00',
  );
  t.throws(() => encodeRegistryPol([{ key: 'Ké', value: 'S', type: 'REG_SZ', data: '' }]), {
    message: /printable ASCII/,
  });
});

test('certificate blobs hold the DER openssl gives, under the SHA-1 thumbprint', async (t) => {
  const { result, file } = await written(siteConfig());
  const pol = await sambaReadPol(file(FILES.pol));
  const blobs = pol.entries.filter((e) => e.value === 'Blob');
  t.deepEqual(
    blobs.map((b) => b.key.replace(/\\Certificates\\.*$/, '')),
    [
      'Software\\Policies\\Microsoft\\SystemCertificates\\TrustedPublisher',
      'Software\\Policies\\Microsoft\\SystemCertificates\\Root',
    ],
  );
  for (const [blob, pem] of [
    [blobs[0], publisherPem],
    [blobs[1], ca.certificatePem],
  ] as const) {
    const der = await opensslText(['x509', '-outform', 'DER'], Buffer.from(pem as string));
    const fp = (
      await opensslText(['x509', '-noout', '-fingerprint', '-sha1'], Buffer.from(pem as string))
    )
      .toString()
      .trim()
      .replace(/^.*=/, '')
      .replace(/:/g, '')
      .toUpperCase();
    const data = Buffer.from(blob?.data as string, 'hex');
    t.is(data.subarray(0, 8).toString('hex'), '2000000001000000'); // [MS-GPEF] 2.2.1.1.1.2
    t.is(data.readUInt32LE(8), der.length);
    t.true(data.subarray(12).equals(der));
    t.true(blob?.key.endsWith(`\\Certificates\\${fp}`));
  }
  const cer = await readFile(file('certificates/upcat-publisher.cer'));
  t.true(cer.equals(await opensslText(['x509', '-outform', 'DER'], Buffer.from(publisherPem))));
  const cmd = (await readFile(file(FILES.certutil))).toString();
  t.regex(cmd, /certutil -f -addstore TrustedPublisher "upcat-publisher\.cer"/);
  t.regex(cmd, /certutil -f -addstore Root "upcat-site-ca\.cer"/);
  t.deepEqual(
    result.certificates.map((c) => c.store),
    ['TrustedPublisher', 'Root'],
  );
});

test('HTTPS when the site has an HTTPS listener, with the site CA for the server certificate', (t) => {
  const native = buildGpoExport(
    siteConfig({
      site: { code: 'TST', mode: 'native' },
      server: { tlsNames: ['upcat.example.com'] },
    }),
    SIGNING,
    { ...OPTIONS, host: undefined } as GpoExportOptions,
  );
  t.is(native.windowsUpdateUrl, 'https://upcat.example.com:8531');
  t.true(native.https);
  t.deepEqual(native.warnings, []);
  // upcat's own agent is given the HTTP URL: it finds a native site's HTTPS port itself.
  t.is(native.agentUrl, 'http://upcat.example.com:8530');
  const mixedHttps = buildGpoExport(
    siteConfig({ server: { https: true, httpsPort: 9443, tlsNames: ['a.example'] } }),
    SIGNING,
    { ...OPTIONS, host: 'b.example' },
  );
  t.is(mixedHttps.windowsUpdateUrl, 'https://b.example:9443');
  t.regex(mixedHttps.warnings.join('\n'), /names a\.example, not b\.example/);
  const published = buildGpoExport(
    siteConfig({
      server: { publicUrl: 'https://updates.example.org:8531', tlsNames: ['x.example'] },
    }),
    SIGNING,
    { ...OPTIONS, host: undefined } as GpoExportOptions,
  );
  t.is(published.windowsUpdateUrl, 'http://updates.example.org:8530');
  const plain = buildGpoExport(siteConfig(), SIGNING, OPTIONS);
  t.is(plain.windowsUpdateUrl, 'http://upcat.example.com:8530');
  t.false(plain.https);
  t.regex(plain.warnings.join('\n'), /plain HTTP only/);
  const proxied = buildGpoExport(siteConfig(), SIGNING, {
    ...OPTIONS,
    url: 'https://wsus.example.com',
  });
  t.is(proxied.windowsUpdateUrl, 'https://wsus.example.com');
  t.true(proxied.https);
  t.throws(() => buildGpoExport(siteConfig({ server: { port: 0 } }), SIGNING, OPTIONS), {
    message: /port 0 in upcat\.config\.json\): give --url/,
  });
});

test('the serve warning is given exactly when Windows Update Agents get plain HTTP only', (t) => {
  t.regex(plainHttpWarning(siteConfig()) ?? '', /plain HTTP only.*WSUSpect/);
  t.is(plainHttpWarning(siteConfig({ site: { mode: 'native' } })), undefined);
  t.is(plainHttpWarning(siteConfig({ server: { https: true } })), undefined);
});

test('Trusted Root: a self-signed publisher is its own root; another CA is left to the organisation', (t) => {
  const own = createCa({ subject: { commonName: 'self-signed publisher' }, modulusLength: 2048 });
  const selfSigned = buildGpoExport(
    siteConfig(),
    { ...SIGNING, publisherCertificatePem: own.certificatePem },
    OPTIONS,
  );
  t.deepEqual(
    selfSigned.certificates.map((c) => [c.store, c.subject]),
    [
      ['TrustedPublisher', 'CN=self-signed publisher'],
      ['Root', 'CN=self-signed publisher'],
    ],
  );
  t.deepEqual(
    selfSigned.files.filter((f) => f.path.endsWith('.cer')).map((f) => f.path),
    ['certificates/upcat-publisher.cer'],
  );
  const other = createCa({ subject: { commonName: 'Contoso Issuing CA' }, modulusLength: 2048 });
  const imported = issueCertificate(other, {
    subject: { commonName: 'Contoso publisher' },
    publicKey: { pem: rsaKeyPair(2048).publicKeyPem },
    usage: 'codeSigning',
  });
  const foreign = buildGpoExport(
    siteConfig(),
    { ...SIGNING, publisherCertificatePem: imported },
    OPTIONS,
  );
  t.deepEqual(
    foreign.certificates.map((c) => c.store),
    ['TrustedPublisher'],
  );
  t.regex(foreign.warnings.join('\n'), /issued by CN=Contoso Issuing CA, not by the site CA/);
  // Over HTTPS with the site-issued server certificate, the site CA is still needed for TLS.
  const foreignHttps = buildGpoExport(
    siteConfig({ site: { mode: 'native' } }),
    { ...SIGNING, publisherCertificatePem: imported },
    OPTIONS,
  );
  t.deepEqual(
    foreignHttps.certificates.map((c) => c.store),
    ['TrustedPublisher', 'Root'],
  );
  // Behind a --url (a proxy with its own certificate), the site CA is not needed for TLS.
  const foreignProxied = buildGpoExport(
    siteConfig({ site: { mode: 'native' } }),
    { ...SIGNING, publisherCertificatePem: imported },
    { ...OPTIONS, url: 'https://wsus.example.com' },
  );
  t.deepEqual(
    foreignProxied.certificates.map((c) => c.store),
    ['TrustedPublisher'],
  );
});

test('the PowerShell script sets the same values', async (t) => {
  const { result, file } = await written(siteConfig());
  const bytes = await readFile(file(FILES.ps1));
  t.is(bytes.subarray(0, 3).toString('hex'), 'efbbbf');
  const text = bytes.subarray(3).toString('utf8');
  t.false(/(^|[^\r])\n/.test(text), 'CRLF only');
  const unquote = (s: string): string => s.slice(1, -1).replace(/''/g, "'");
  const values: Value[] = [];
  for (const m of text.matchAll(
    /^Set-PolicyValue ('(?:[^']|'')*') ('(?:[^']|'')*') '(String|DWord|Binary)' (.*)$/gm,
  )) {
    const [, key, name, type, raw] = m as unknown as [string, string, string, string, string];
    const data =
      type === 'String'
        ? unquote(raw)
        : type === 'DWord'
          ? Number(raw)
          : Buffer.from(/FromBase64String\('([^']*)'\)/.exec(raw)?.[1] ?? '', 'base64').toString(
              'hex',
            );
    values.push({
      key: unquote(key),
      value: unquote(name),
      type: type === 'String' ? 'REG_SZ' : type === 'DWord' ? 'REG_DWORD' : 'REG_BINARY',
      data,
    });
  }
  const pol = await sambaReadPol(file(FILES.pol));
  t.is(values.length, result.entries.length);
  t.deepEqual(sortValues(values), sortValues(pol.entries));
  t.is(quote("it's ‘x’"), "'it''s ‘‘x’’'");
  t.throws(() => quote('a\nb'), { message: /control character/ });
});

test('upcat.admx and upcat.adml are well formed, cross-referenced and valid against the MS-GPREG schema', async (t) => {
  const { file } = await written(siteConfig());
  const admx = file(FILES.admx);
  const adml = file(FILES.adml);
  t.is((await xmllint(['--noout', admx, adml])).code, 0);
  const xpath = async (f: string, expr: string): Promise<string[]> => {
    const r = await xmllint(['--xpath', expr, f]);
    t.is(r.code, 0, r.stderr);
    return r.stdout
      .split('\n')
      .map((s) => s.trim())
      .filter((s) => s !== '');
  };
  const values = (lines: string[]): string[] => lines.map((l) => l.replace(/^[^=]*="(.*)"$/, '$1'));
  // Every $(string.X) and $(presentation.Y) the ADMX names is in the ADML.
  const admxRefs = values(await xpath(admx, '//@*[starts-with(., "$(")]'));
  const strings = new Set(values(await xpath(adml, '//*[local-name()="string"]/@id')));
  const presentations = new Set(values(await xpath(adml, '//*[local-name()="presentation"]/@id')));
  t.true(admxRefs.length >= 10);
  for (const ref of admxRefs) {
    const m = /^\$\((string|presentation)\.([^)]+)\)$/.exec(ref);
    t.truthy(m, ref);
    t.true(
      (m?.[1] === 'string' ? strings : presentations).has(m?.[2] ?? ''),
      `${ref} is in the ADML`,
    );
  }
  // Every presentation control's refId is an element id of the policy that names it.
  for (const id of presentations) {
    const refIds = values(
      await xpath(adml, `//*[local-name()="presentation"][@id="${id}"]/*/@refId`),
    );
    const elementIds = values(
      await xpath(
        admx,
        `//*[local-name()="policy"][@presentation="$(presentation.${id})"]/*[local-name()="elements"]/*/@id`,
      ),
    );
    t.deepEqual(refIds.sort(), elementIds.sort(), id);
  }
  // upcat's own namespace and key only: no built-in Windows Update policy is redefined.
  t.deepEqual(values(await xpath(admx, '//*[local-name()="target"]/@namespace')), [
    'Upcat.Policies',
  ]);
  for (const key of values(await xpath(admx, '//@key')))
    t.regex(key, /^Software\\Policies\\upcat(\\|$)/);
  // Validate against the XSD written from [MS-GPREG] section 7, whose target namespace is
  // http://www.microsoft.com/GroupPolicy/PolicyDefinitions: real files use the 2006/07 one, so
  // the documents are rewritten to the spec's namespace first (interop.md section 6).
  const schema = path.resolve('test/fixtures/gpo/PolicyDefinitions.xsd');
  for (const f of [admx, adml]) {
    const rewritten = (await readFile(f, 'utf8')).replace(
      'http://schemas.microsoft.com/GroupPolicy/2006/07/PolicyDefinitions',
      'http://www.microsoft.com/GroupPolicy/PolicyDefinitions',
    );
    const copy = `${f}.spec.xml`;
    await writeFile(copy, rewritten);
    const r = await xmllint(['--noout', '--schema', schema, copy]);
    t.is(r.code, 0, `${path.basename(f)}: ${r.stderr}`);
  }
  // The schema is not a formality: a policy without its category, or a policy element
  // without its valueName, is refused.
  const spec = await readFile(`${admx}.spec.xml`, 'utf8');
  for (const [from, expect] of [
    [/<parentCategory ref="Upcat" \/>/, /parentCategory/],
    [/ valueName="SiteCode"/, /valueName/],
  ] as const) {
    await writeFile(`${admx}.broken.xml`, spec.replace(from, ''));
    const r = await xmllint(['--noout', '--schema', schema, `${admx}.broken.xml`]);
    t.not(r.code, 0);
    t.regex(r.stderr, expect);
  }
});
