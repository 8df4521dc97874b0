import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import type { ExecutionContext } from 'ava';
import { openSite } from '../../src/app.js';
import { runCli, spawnCli } from '../helpers/cli.js';
import { fileManifest } from '../helpers/publish.js';
import { dbTest } from '../helpers/site.js';

const run = promisify(execFile);

/** An organization PKI made with openssl: a root CA and certificates it issues. */
async function makePki(dir: string) {
  const ossl = (args: string[]) => run('openssl', args, { cwd: dir });
  const ext = (name: string, lines: string) => writeFile(path.join(dir, name), lines);
  await ossl([
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
    '-subj',
    '/CN=Contoso Root CA',
    '-days',
    '3650',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  const issue = async (name: string, extLines: string, days: string, keyType = 'rsa:2048') => {
    await ext(`${name}.ext`, extLines);
    const newkey =
      keyType === 'ec'
        ? ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256']
        : ['-newkey', keyType];
    await ossl([
      'req',
      '-new',
      ...newkey,
      '-nodes',
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.csr`,
      '-subj',
      `/CN=Contoso ${name}`,
    ]);
    await ossl([
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      days,
      '-sha256',
      '-extfile',
      `${name}.ext`,
      '-out',
      `${name}.pem`,
    ]);
  };
  const codeSigning = 'extendedKeyUsage=codeSigning\nkeyUsage=critical,digitalSignature\n';
  // Expires in 20 days: inside the 30-day warning window.
  await issue('publisher', codeSigning, '20');
  await issue('server', 'extendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\n', '365');
  await issue('ecdsa', codeSigning, '365', 'ec');
  await issue('small', codeSigning, '365', 'rsa:1024');
  // An expired one: openssl ca takes explicit start and end dates.
  await writeFile(
    path.join(dir, 'ca.cnf'),
    [
      '[ca]',
      'default_ca=d',
      '[d]',
      'database=./index.txt',
      'new_certs_dir=.',
      'serial=./serial',
      'default_md=sha256',
      'policy=p',
      'unique_subject=no',
      '[p]',
      'commonName=supplied',
      '[e]',
      'extendedKeyUsage=codeSigning',
      'keyUsage=digitalSignature',
      '',
    ].join('\n'),
  );
  await writeFile(path.join(dir, 'index.txt'), '');
  await writeFile(path.join(dir, 'serial'), '1000\n');
  await ossl([
    'req',
    '-new',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'expired.key',
    '-out',
    'expired.csr',
    '-subj',
    '/CN=Contoso expired',
  ]);
  await ossl([
    'ca',
    '-batch',
    '-config',
    'ca.cnf',
    '-cert',
    'ca.pem',
    '-keyfile',
    'ca.key',
    '-in',
    'expired.csr',
    '-out',
    'expired.pem',
    '-startdate',
    '20200101000000Z',
    '-enddate',
    '20210101000000Z',
    '-extensions',
    'e',
    '-notext',
  ]);
  const pfx = (name: string, out: string, pass: string, key = `${name}.key`) =>
    ossl([
      'pkcs12',
      '-export',
      '-in',
      `${name}.pem`,
      '-inkey',
      key,
      '-certfile',
      'ca.pem',
      '-out',
      out,
      '-passout',
      `pass:${pass}`,
    ]);
  await pfx('publisher', 'publisher.pfx', 's3cret pass');
  await pfx('server', 'server.pfx', 's3cret pass');
  await pfx('expired', 'expired.pfx', 's3cret pass');
  await pfx('ecdsa', 'ecdsa.pfx', 's3cret pass');
  await writeFile(path.join(dir, 'password.txt'), 's3cret pass\n');
  await writeFile(path.join(dir, 'wrong.txt'), 'not it\n');
  return { ca: path.join(dir, 'ca.pem'), file: (n: string) => path.join(dir, n) };
}

/** Every file under signing/pki with its bytes, to show a refused import changed nothing. */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const file = path.join(entry.parentPath, entry.name);
    out[path.relative(dir, file)] = await readFile(file, 'base64');
  }
  return out;
}

async function refused(
  t: ExecutionContext,
  env: NodeJS.ProcessEnv,
  pki: string,
  args: string[],
  message: RegExp,
) {
  const before = await snapshot(pki);
  const res = await runCli(['keys', 'import-publisher', ...args], env);
  t.not(res.code, 0, `${args.join(' ')}: ${res.stdout}${res.stderr}`);
  t.is(res.stderr.trimEnd().split('\n').length, 1, res.stderr);
  t.regex(res.stderr, message);
  t.notRegex(res.stderr + res.stdout, /PRIVATE KEY|at .*\.js:\d+/);
  t.deepEqual(await snapshot(pki), before, 'nothing written');
}

dbTest(
  'keys import-publisher: an organization PFX signs payloads from then on; bad input is one line and changes nothing',
  async (t, { home, env }) => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'upcat-pki-'));
    try {
      const org = await makePki(dir);
      const pki = path.join(home, 'signing', 'pki');
      const f = org.file;
      await refused(
        t,
        env,
        pki,
        ['--pfx', f('publisher.pfx'), '--password-file', f('wrong.txt')],
        /PFX: the password is wrong/,
      );
      await refused(
        t,
        env,
        pki,
        ['--pfx', f('server.pfx'), '--password-file', f('password.txt')],
        /no codeSigning extended key usage/,
      );
      await refused(
        t,
        env,
        pki,
        ['--pfx', f('expired.pfx'), '--password-file', f('password.txt')],
        /expired on 2021-01-01/,
      );
      await refused(
        t,
        env,
        pki,
        ['--pfx', f('ecdsa.pfx'), '--password-file', f('password.txt')],
        /ECDSA: not supported, because node-forge .* signs RSA only/,
      );
      await refused(
        t,
        env,
        pki,
        ['--cert', f('publisher.pem'), '--key', f('server.key')],
        /the private key does not match the certificate/,
      );
      await refused(
        t,
        env,
        pki,
        ['--cert', f('small.pem'), '--key', f('small.key')],
        /1024 bits; at least 2048/,
      );
      await refused(
        t,
        env,
        pki,
        ['--cert', f('publisher.pem'), '--key', f('publisher.key'), '--chain', f('server.pem')],
        /chain does not hold the issuer/,
      );

      const ok = await runCli(
        [
          'keys',
          'import-publisher',
          '--pfx',
          f('publisher.pfx'),
          '--password-env',
          'PFX_PASS',
          '--json',
        ],
        { ...env, PFX_PASS: 's3cret pass' },
      );
      t.is(ok.code, 0, ok.stderr);
      t.notRegex(ok.stdout + ok.stderr, /PRIVATE KEY|s3cret/);
      t.regex(ok.stderr, /^warning: the publisher certificate expires in 1\d day\(s\)/);
      const info = JSON.parse(ok.stdout) as { thumbprintSha1: string; subject: string };
      const fingerprint = (
        await run('openssl', ['x509', '-in', f('publisher.pem'), '-noout', '-fingerprint', '-sha1'])
      ).stdout;
      t.is(info.thumbprintSha1, fingerprint.split('=')[1]?.trim().replace(/:/g, ''));
      const keyMode = (await stat(path.join(pki, 'imported', 'publisher.key.pem'))).mode & 0o777;
      t.is(keyMode, 0o600);

      const list = await runCli(['keys', 'list', '--json'], env);
      t.is(list.code, 0, list.stderr);
      const publisher = (JSON.parse(list.stdout) as Array<Record<string, unknown>>).find(
        (k) => k.role === 'publisher',
      );
      t.like(publisher, {
        keyid: info.thumbprintSha1,
        subject: 'CN=Contoso publisher',
        source: 'imported',
      });
      t.regex(list.stderr, /^warning: the publisher certificate expires in/);
      const human = await runCli(['keys', 'list'], env);
      t.regex(
        human.stdout,
        new RegExp(`publisher +imported +${info.thumbprintSha1} +CN=Contoso publisher, expires 20`),
      );

      // A site opened now signs payloads with the organization's certificate: openssl verifies the
      // CMS signature against the organization's root, and names the imported certificate.
      const site = await openSite({ home, env, logLevel: 'silent' });
      try {
        await writeFile(path.join(dir, 'tool.exe'), 'tool bytes');
        await site.publish.publish({
          source: Readable.from([Buffer.from('tool bytes')]),
          fileName: 'tool.exe',
          manifest: fileManifest('tool.exe'),
          actor: 'test',
        });
        const sigDir = path.join(home, 'packages', 'signatures');
        const sig = (await readdir(sigDir, { recursive: true })).find((n) => n.endsWith('.p7s'));
        t.truthy(sig);
        const verified = await run('openssl', [
          'cms',
          '-verify',
          '-binary',
          '-inform',
          'DER',
          '-in',
          path.join(sigDir, sig ?? ''),
          '-content',
          path.join(dir, 'tool.exe'),
          '-CAfile',
          org.ca,
          '-purpose',
          'any',
          '-out',
          '/dev/null',
          '-signer',
          path.join(dir, 'signer.pem'),
        ]);
        t.regex(verified.stderr, /Verification successful/);
        const signer = await run('openssl', [
          'x509',
          '-in',
          path.join(dir, 'signer.pem'),
          '-noout',
          '-subject',
        ]);
        t.regex(signer.stdout, /CN ?= ?Contoso publisher/);
      } finally {
        await site.close();
      }

      // `upcat serve` warns at start, and signs the catalog CAB with the imported certificate:
      // osslsigncode verifies it against the organization's root.
      const serve = spawnCli(['serve', '--port', '0', '--host', '127.0.0.1'], env);
      try {
        const url = await new Promise<string>((resolve, reject) => {
          let seen = '';
          serve.stderr?.on('data', (d: Buffer) => {
            seen += d.toString();
            const m = /serving site \w+ on (http:\/\/[\d.]+:\d+)/.exec(seen);
            if (m?.[1] !== undefined) {
              t.regex(seen, /upcat: warning: the publisher certificate expires in 1\d day\(s\)/);
              resolve(m[1]);
            }
          });
          serve.on('exit', () => reject(new Error(`serve exited: ${seen}`)));
        });
        const cer = Buffer.from(
          await (await fetch(`${url}/catalog/v1/publisher.cer`)).arrayBuffer(),
        );
        await writeFile(path.join(dir, 'served.cer'), cer);
        const served = await run('openssl', [
          'x509',
          '-inform',
          'DER',
          '-in',
          path.join(dir, 'served.cer'),
          '-noout',
          '-fingerprint',
          '-sha1',
        ]);
        t.is(served.stdout, fingerprint);
        const cab = Buffer.from(await (await fetch(`${url}/catalog/v1/upcat.cab`)).arrayBuffer());
        await writeFile(path.join(dir, 'upcat.cab'), cab);
        const verified = await run('osslsigncode', [
          'verify',
          '-CAfile',
          org.ca,
          '-in',
          path.join(dir, 'upcat.cab'),
        ]);
        t.regex(verified.stdout, /Signature verification: ok/);
        t.regex(verified.stdout, /Contoso publisher/);
      } finally {
        serve.kill('SIGTERM');
        await new Promise((resolve) => serve.once('close', resolve));
      }

      // PEM form, with the chain, replaces it.
      const pem = await runCli(
        [
          'keys',
          'import-publisher',
          '--cert',
          f('publisher.pem'),
          '--key',
          f('publisher.key'),
          '--chain',
          org.ca,
        ],
        env,
      );
      t.is(pem.code, 0, pem.stderr);
      t.regex(pem.stdout, /^imported publisher CN=Contoso publisher/);
      t.deepEqual(
        (await readdir(pki)).filter((n) => n.startsWith('imported-')).length,
        1,
        'the old copy is gone',
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  },
);
