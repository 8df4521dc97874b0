/**
 * `upcat gpo export` through the built CLI (issue 12 item 7), and the WSUSpect warning of
 * `upcat serve` (item 6): files written and read back by Samba, refusals as one line on stderr
 * with nothing written.
 */
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { X509Certificate } from 'node:crypto';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { collect, runCli, spawnCli } from '../helpers/cli.js';
import { sharedSigningDir } from '../helpers/site.js';
import { createCa, issueCertificate, rsaKeyPair } from '../../src/signing/ca.js';
import { sambaReadPol } from '../unit/windows/gpo/tools.js';

const createCaPem = (): string =>
  createCa({ subject: { commonName: 'not the site CA' }, modulusLength: 2048 }).certificatePem;

/** A site home with the shared signing material and this config (no database is needed). */
async function siteHome(config: Record<string, unknown>, signing = true): Promise<string> {
  const home = await mkdtemp(path.join(os.tmpdir(), 'upcat-gpo-cli-'));
  if (signing) await cp(await sharedSigningDir(), path.join(home, 'signing'), { recursive: true });
  await writeFile(path.join(home, 'upcat.config.json'), JSON.stringify(config));
  return home;
}

const envFor = (home: string): NodeJS.ProcessEnv => ({
  PATH: process.env['PATH'],
  HOME: process.env['HOME'],
  UPCAT_HOME: home,
});

const WU = 'Software\\Policies\\Microsoft\\Windows\\WindowsUpdate';

test('gpo export --help describes the command and its options', async (t) => {
  const help = await runCli(['gpo', 'export', '--help'], process.env);
  t.is(help.code, 0);
  t.regex(help.stdout, /Usage: upcat gpo export/);
  for (const option of [
    '--out',
    '--format',
    '--force',
    '--host',
    '--url',
    '--target-group',
    '--au-options',
    '--install-day',
    '--install-time',
    '--detection-frequency',
    '--no-agent-policy',
    '--fallback-status-point',
    '--property',
    '--json',
  ])
    t.regex(help.stdout, new RegExp(option));
  const gpo = await runCli(['gpo', '--help'], process.env);
  t.is(gpo.code, 0);
  t.regex(gpo.stdout, /export/);
});

test('a native-mode site: HTTPS policy, every format, JSON summary', async (t) => {
  const home = await siteHome({
    site: { code: 'GPO', mode: 'native' },
    server: { tlsNames: ['upcat.example.com'] },
  });
  const out = path.join(home, 'gpo');
  try {
    const res = await runCli(
      ['gpo', 'export', '--out', out, '--target-group', 'Ring 1', '--au-options', '3', '--json'],
      envFor(home),
    );
    t.is(res.code, 0, res.stderr);
    t.is(res.stderr, '');
    const summary = JSON.parse(res.stdout) as {
      windowsUpdateUrl: string;
      https: boolean;
      files: Array<{ path: string }>;
      certificates: Array<{ store: string; thumbprint: string }>;
    };
    t.is(summary.windowsUpdateUrl, 'https://upcat.example.com:8531');
    t.true(summary.https);
    t.deepEqual(summary.files.map((f) => f.path).sort(), [
      'Machine/Registry.pol',
      'PolicyDefinitions/en-US/upcat.adml',
      'PolicyDefinitions/upcat.admx',
      'certificates/add-certificates.cmd',
      'certificates/upcat-publisher.cer',
      'certificates/upcat-site-ca.cer',
      'upcat-policy.ps1',
      'upcat-policy.reg',
    ]);
    t.deepEqual(
      summary.certificates.map((c) => c.store),
      ['TrustedPublisher', 'Root'],
    );
    const pol = await sambaReadPol(path.join(out, 'Machine', 'Registry.pol'));
    const get = (key: string, value: string): unknown =>
      pol.entries.find((e) => e.key === key && e.value === value)?.data;
    t.is(get(WU, 'WUServer'), 'https://upcat.example.com:8531');
    t.is(get(WU, 'TargetGroup'), 'Ring 1');
    t.is(get(`${WU}\\AU`, 'AUOptions'), 3);
    t.is(get('Software\\Policies\\upcat', 'SiteCode'), 'GPO');
    for (const c of summary.certificates)
      t.truthy(
        get(
          `Software\\Policies\\Microsoft\\SystemCertificates\\${c.store}\\Certificates\\${c.thumbprint}`,
          'Blob',
        ),
      );

    // The directory is no longer empty: refused, then --force writes over it.
    const again = await runCli(['gpo', 'export', '--out', out, '--format', 'reg'], envFor(home));
    t.is(again.code, 2);
    t.regex(again.stderr, /^upcat: --out: .* is not empty \(give --force to write into it\)\n$/);
    const forced = await runCli(
      ['gpo', 'export', '--out', out, '--format', 'pol', '--no-agent-policy', '--force'],
      envFor(home),
    );
    t.is(forced.code, 0, forced.stderr);
    const after = await sambaReadPol(path.join(out, 'Machine', 'Registry.pol'));
    t.false(after.entries.some((e) => e.key.startsWith('Software\\Policies\\upcat')));
  } finally {
    await rm(home, { recursive: true, force: true });
  }
});

test('a plain-HTTP site: HTTP policy and one warning line', async (t) => {
  const home = await siteHome({ site: { code: 'GPO' } });
  const out = path.join(home, 'gpo');
  try {
    const res = await runCli(
      ['gpo', 'export', '--out', out, '--host', 'wsus.example.com', '--format', 'reg,cer'],
      envFor(home),
    );
    t.is(res.code, 0, res.stderr);
    t.regex(
      res.stderr,
      /^upcat: warning: the site serves Windows Update Agents over plain HTTP only.*WSUSpect.*\n$/,
    );
    t.regex(res.stdout, /Windows Update at http:\/\/wsus\.example\.com:8530/);
    const reg = (await readFile(path.join(out, 'upcat-policy.reg')))
      .subarray(2)
      .toString('utf16le');
    t.regex(reg, /"WUServer"="http:\/\/wsus\.example\.com:8530"\r\n/);
    t.deepEqual((await readdir(out)).sort(), ['certificates', 'upcat-policy.reg']);
  } finally {
    await rm(home, { recursive: true, force: true });
  }
});

test('bad input: one line on stderr, exit 2, nothing written', async (t) => {
  const home = await siteHome({});
  const file = path.join(home, 'a-file');
  await writeFile(file, 'x');
  try {
    const cases: Array<[string[], RegExp]> = [
      [['--format', 'reg,zip'], /--format: "zip" is not a list of admx, reg, pol, ps1, cer/],
      [['--au-options', '9'], /--au-options: "9" is not a whole number from 2 to 5/],
      [
        ['--detection-frequency', '0'],
        /--detection-frequency: "0" is not a whole number from 1 to 22/,
      ],
      [['--install-time', '24'], /--install-time: "24" is not a whole number from 0 to 23/],
      [['--target-group', 'a;;b'], /--target-group: "a;;b" is not group names/],
      [['--url', 'ftp://x'], /--url: "ftp:\/\/x" is not an http or https base URL/],
      [['--host', 'a/b'], /--host: "a\/b" is not a host name or address/],
      [['--property', 'novalue'], /--property: "novalue" is not name=value/],
      [
        ['--no-agent-policy', '--property', 'a=b'],
        /--no-agent-policy leaves out upcat's own policy, where --fallback-status-point and --property go/,
      ],
    ];
    for (const [args, message] of cases) {
      const out = path.join(home, 'never');
      const res = await runCli(['gpo', 'export', '--out', out, ...args], envFor(home));
      t.is(res.code, 2, args.join(' '));
      t.regex(res.stderr, message);
      t.is(res.stderr.split('\n').length, 2, res.stderr);
      await t.throwsAsync(readdir(out), { code: 'ENOENT' });
    }
    const onFile = await runCli(['gpo', 'export', '--out', file], envFor(home));
    t.is(onFile.code, 2);
    t.regex(onFile.stderr, /^upcat: --out: .*a-file exists and is not a directory\n$/);
    const missing = await runCli(['gpo', 'export'], envFor(home));
    t.not(missing.code, 0);
    t.regex(missing.stderr, /required option '--out <dir>'/);
  } finally {
    await rm(home, { recursive: true, force: true });
  }
  const bare = await siteHome({}, false);
  try {
    const res = await runCli(['gpo', 'export', '--out', path.join(bare, 'o')], envFor(bare));
    t.is(res.code, 2);
    t.regex(res.stderr, /^upcat: site .* has no signing material yet: run upcat init\n$/);
  } finally {
    await rm(bare, { recursive: true, force: true });
  }
});

/** Starts `upcat serve`, waits until it serves, stops it; returns what it wrote on stderr. */
async function serveStderr(home: string): Promise<string> {
  const child = spawnCli(
    ['serve', '--port', '0', '--host', '127.0.0.1', '--https-port', '0'],
    envFor(home),
  );
  const done = collect(child);
  await new Promise<void>((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`serve did not start: ${seen}`)), 60_000);
    child.stderr?.on('data', (d: Buffer) => {
      seen += d.toString();
      if (/serving site/.test(seen)) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  child.kill('SIGTERM');
  return (await done).stderr;
}

test('upcat serve warns once when Windows Update Agents get plain HTTP only', async (t) => {
  const plain = await siteHome({});
  const secure = await siteHome({ server: { https: true } });
  try {
    const warned = (await serveStderr(plain)).split('\n').filter((l) => /WSUSpect/.test(l));
    t.is(warned.length, 1);
    t.like(JSON.parse(warned[0] as string), { level: 40, security: 'wsuspect' });
    t.regex(warned[0] as string, /plain HTTP only.*command-line arguments.*native/);
    t.notRegex(await serveStderr(secure), /WSUSpect/);
  } finally {
    await rm(plain, { recursive: true, force: true });
    await rm(secure, { recursive: true, force: true });
  }
});

/** A TCP port free right now on 127.0.0.1. */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** POSTs MS-WUSP GetConfig to `<base>/ClientWebService/client.asmx`, trusting only `ca` (PEM). */
function getConfig(base: string, ca: string): Promise<{ status: number; body: string }> {
  const body =
    '<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>' +
    '<GetConfig xmlns="http://www.microsoft.com/SoftwareDistribution/Server/ClientWebService"><protocolVersion>1.0</protocolVersion></GetConfig>' +
    '</soap:Body></soap:Envelope>';
  return new Promise((resolve, reject) => {
    const req = https.request(
      `${base}/ClientWebService/client.asmx`,
      {
        method: 'POST',
        ca,
        family: 4,
        headers: {
          'content-type': 'text/xml; charset=utf-8',
          SOAPAction:
            '"http://www.microsoft.com/SoftwareDistribution/Server/ClientWebService/GetConfig"',
        },
      },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

test('the exported policy reaches the Windows Update service over HTTPS, trusted through the exported root', async (t) => {
  const [port, httpsPort] = [await freePort(), await freePort()];
  const home = await siteHome({
    site: { code: 'GPO' },
    server: { port, httpsPort, https: true, tlsNames: ['localhost'] },
  });
  const out = path.join(home, 'gpo');
  const child = spawnCli(['serve', '--host', '127.0.0.1'], envFor(home));
  const done = collect(child);
  try {
    const res = await runCli(['gpo', 'export', '--out', out, '--host', 'localhost'], envFor(home));
    t.is(res.code, 0, res.stderr);
    const pol = await sambaReadPol(path.join(out, 'Machine', 'Registry.pol'));
    const wuServer = pol.entries.find((e) => e.value === 'WUServer')?.data as string;
    t.is(wuServer, `https://localhost:${httpsPort}`);
    const der = await readFile(path.join(out, 'certificates', 'upcat-site-ca.cer'));
    const root = new X509Certificate(der).toString();
    await new Promise<void>((resolve, reject) => {
      let seen = '';
      const timer = setTimeout(() => reject(new Error(`serve did not start: ${seen}`)), 60_000);
      child.stderr?.on('data', (d: Buffer) => {
        seen += d.toString();
        if (/serving site/.test(seen)) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    const answer = await getConfig(wuServer, root);
    t.is(answer.status, 200, answer.body);
    t.regex(answer.body, /GetConfigResponse/);
    // Without the exported root, the site-issued server certificate is not trusted.
    const other = createCaPem();
    await t.throwsAsync(getConfig(wuServer, other));
  } finally {
    child.kill('SIGTERM');
    await done;
    await rm(home, { recursive: true, force: true });
  }
});

test('an imported publisher (keys import-publisher) is the one exported; its CA is left to the organisation', async (t) => {
  const home = await siteHome({ site: { code: 'GPO' } });
  try {
    const orgCa = createCa({ subject: { commonName: 'Contoso Issuing CA' }, modulusLength: 2048 });
    const keys = rsaKeyPair(2048);
    const cert = issueCertificate(orgCa, {
      subject: { commonName: 'Contoso code signing' },
      publicKey: { pem: keys.publicKeyPem },
      usage: 'codeSigning',
    });
    await writeFile(path.join(home, 'org.pem'), cert);
    await writeFile(path.join(home, 'org.key.pem'), keys.privateKeyPem);
    await writeFile(path.join(home, 'chain.pem'), orgCa.certificatePem);
    const imported = await runCli(
      [
        'keys',
        'import-publisher',
        '--cert',
        path.join(home, 'org.pem'),
        '--key',
        path.join(home, 'org.key.pem'),
        '--chain',
        path.join(home, 'chain.pem'),
      ],
      envFor(home),
    );
    t.is(imported.code, 0, imported.stderr);
    const out = path.join(home, 'gpo');
    const res = await runCli(
      ['gpo', 'export', '--out', out, '--format', 'cer', '--json'],
      envFor(home),
    );
    t.is(res.code, 0, res.stderr);
    t.regex(
      res.stderr,
      /publisher certificate is issued by CN=Contoso Issuing CA, not by the site CA/,
    );
    const summary = JSON.parse(res.stdout) as {
      certificates: Array<{ store: string; subject: string }>;
    };
    t.deepEqual(summary.certificates, [
      {
        store: 'TrustedPublisher',
        subject: 'CN=Contoso code signing',
        thumbprint: new X509Certificate(cert).fingerprint.replace(/:/g, ''),
        file: 'certificates/upcat-publisher.cer',
      },
    ]);
    const der = await readFile(path.join(out, 'certificates', 'upcat-publisher.cer'));
    t.true(der.equals(new X509Certificate(cert).raw));
  } finally {
    await rm(home, { recursive: true, force: true });
  }
});
