import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import forge from 'node-forge';
import { UpcatError } from '../../../src/errors.js';
import { initCertificates, issueCertificate, loadCa, pkiPaths } from '../../../src/signing/ca.js';

const run = promisify(execFile);
const OPENSSL = '/usr/bin/openssl';

test('initCertificates writes a CA and a code-signing publisher certificate it issued', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'upcat-ca-'));
  try {
    const signing = path.join(dir, 'signing');
    const first = await initCertificates(signing, {
      siteCode: 'UPC',
      siteName: 'test site',
      modulusLength: 2048,
    });
    const paths = pkiPaths(signing);
    t.is(first.created.length, 2);
    t.is((await stat(paths.caKey)).mode & 0o777, 0o600);
    t.is((await stat(paths.publisherKey)).mode & 0o777, 0o600);
    const { stdout } = await run(OPENSSL, [
      'verify',
      '-CAfile',
      paths.caCert,
      '-purpose',
      'any',
      paths.publisherCert,
    ]);
    t.regex(stdout, /OK/);
    const text = (await run(OPENSSL, ['x509', '-in', paths.publisherCert, '-noout', '-text']))
      .stdout;
    t.regex(text, /Code Signing/);
    t.regex(text, /CN ?= ?upcat UPC publisher/);
    const caText = (await run(OPENSSL, ['x509', '-in', paths.caCert, '-noout', '-text'])).stdout;
    t.regex(caText, /CA:TRUE/);

    const before = await readFile(paths.caCert, 'utf8');
    const again = await initCertificates(signing, { siteCode: 'UPC', siteName: 'test site' });
    t.deepEqual(again.created, []);
    t.is(await readFile(paths.caCert, 'utf8'), before);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('issueCertificate signs a client certificate from a PKCS#10 request', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'upcat-ca-'));
  try {
    const signing = path.join(dir, 'signing');
    await initCertificates(signing, { siteCode: 'UPC', siteName: 'test', modulusLength: 2048 });
    const ca = await loadCa(signing);
    const keys = forge.pki.rsa.generateKeyPair({ bits: 1024, workers: -1 });
    const csr = forge.pki.createCertificationRequest();
    csr.publicKey = keys.publicKey;
    csr.setSubject([{ name: 'commonName', value: 'client-1' }]);
    csr.sign(keys.privateKey, forge.md.sha256.create());
    const pem = issueCertificate(ca, {
      subject: { commonName: 'client-1' },
      publicKey: { csrPem: forge.pki.certificationRequestToPem(csr) },
      usage: 'clientAuth',
    });
    const file = path.join(dir, 'client.pem');
    await writeFile(file, pem);
    const { stdout } = await run(OPENSSL, [
      'verify',
      '-CAfile',
      pkiPaths(signing).caCert,
      '-purpose',
      'sslclient',
      file,
    ]);
    t.regex(stdout, /OK/);

    const other = generateKeyPairSync('rsa', {
      modulusLength: 2048,
      publicKeyEncoding: { type: 'spki', format: 'pem' },
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    });
    const server = issueCertificate(ca, {
      subject: { commonName: 'upcat.example' },
      publicKey: { pem: other.publicKey },
      usage: 'serverAuth',
      dnsNames: ['upcat.example'],
    });
    t.true(server.includes('BEGIN CERTIFICATE'));

    const err = t.throws(
      () =>
        issueCertificate(ca, {
          subject: { commonName: 'x' },
          publicKey: { csrPem: 'not a request' },
          usage: 'clientAuth',
        }),
      { instanceOf: UpcatError },
    );
    t.is(err?.code, 'invalid_input');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
