/**
 * Issue 11 through the built CLI: a failed package makes a non-zero exit with a per-package
 * summary (and --json), a missing payload folder is a one-line error that stores nothing,
 * `--metadata-only` then `content add` brings a package's content.
 */
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { signCabFile } from '../../src/windows/authenticode/index.js';
import { writeCab } from '../../src/windows/cab/index.js';
import { packageBody, vendorCatalog } from '../../bench/vendor-catalog-gen.js';
import { runCli } from '../helpers/cli.js';
import { sharedSigningDir } from '../helpers/site.js';
import { cp } from 'node:fs/promises';

interface Outcome {
  status: string;
  message?: string;
  updateId?: string;
}

test('import-catalog exits non-zero when a package fails; content add completes a metadata-only one', async (t) => {
  const home = await mkdtemp(path.join(os.tmpdir(), 'upcat-import-cli-'));
  try {
    await cp(await sharedSigningDir(), path.join(home, 'signing'), { recursive: true });
    const env = { PATH: process.env['PATH'], HOME: process.env['HOME'], UPCAT_HOME: home };
    const good = packageBody({ payload: Buffer.from('good'), title: 'Good 1.0' });
    const bad = packageBody({ payload: Buffer.from('bad!'), title: 'Bad 1.0' });
    const catalog = path.join(home, 'vendor.xml');
    await writeFile(catalog, vendorCatalog([good.xml, bad.xml]));
    const payloads = path.join(home, 'payloads');
    await cp(catalog, path.join(home, 'unused.xml'));
    await import('node:fs/promises').then((fs) => fs.mkdir(payloads));
    await writeFile(path.join(payloads, good.fileName), 'good');
    await writeFile(path.join(payloads, bad.fileName), 'BAD!');

    // A payload folder that does not exist: one line, nothing stored.
    const missing = await runCli(
      ['import-catalog', catalog, '--payloads', path.join(home, 'nope')],
      env,
    );
    t.is(missing.code, 2);
    t.is(missing.stderr.trim().split('\n').length, 1);
    t.regex(missing.stderr, /payload folder .*nope does not exist/);

    const dry = await runCli(
      ['import-catalog', catalog, '--payloads', payloads, '--dry-run', '--json'],
      env,
    );
    const real = await runCli(['import-catalog', catalog, '--payloads', payloads, '--json'], env);
    t.is(real.code, 2);
    t.is(dry.code, 2);
    t.regex(real.stderr, /1 of 2 package\(s\) failed/);
    const outcomes = (JSON.parse(real.stdout) as { packages: Outcome[] }).packages;
    const predicted = (JSON.parse(dry.stdout) as { packages: Outcome[] }).packages;
    t.deepEqual(
      predicted.map((p) => [p.status, p.message]),
      outcomes.map((p) => [p.status, p.message]),
    );
    t.deepEqual(
      outcomes.map((p) => p.status),
      ['published', 'failed'],
    );
    const sha1 = (s: string) => createHash('sha1').update(s).digest('hex');
    t.regex(outcomes[1]?.message ?? '', new RegExp(`${sha1('BAD!')}.*${sha1('bad!')}`));

    // The failed one again, metadata only: stored awaiting content; content add completes it.
    const meta = await runCli(['import-catalog', catalog, '--metadata-only', '--json'], env);
    t.is(meta.code, 0, meta.stderr);
    const statuses = (JSON.parse(meta.stdout) as { packages: Outcome[] }).packages.map(
      (p) => p.status,
    );
    t.deepEqual(statuses, ['unchanged', 'awaiting_content']);
    const wrong = await runCli(['content', 'add', bad.id, path.join(payloads, bad.fileName)], env);
    t.is(wrong.code, 2);
    t.is(wrong.stderr.trim().split('\n').length, 1);
    const right = path.join(home, bad.fileName);
    await writeFile(right, 'bad!');
    const added = await runCli(['content', 'add', bad.id, right, '--json'], env);
    t.is(added.code, 0, added.stderr);
    t.like(JSON.parse(added.stdout), {
      updateId: bad.id,
      revision: 2,
      created: true,
      sha1: sha1('bad!'),
    });
  } finally {
    await rm(home, { recursive: true, force: true });
  }
});

test('import-catalog vendor.cab: verified against --trust, refused when untrusted or tampered', async (t) => {
  const home = await mkdtemp(path.join(os.tmpdir(), 'upcat-import-cab-'));
  try {
    const signing = await sharedSigningDir();
    await cp(signing, path.join(home, 'signing'), { recursive: true });
    const env = { PATH: process.env['PATH'], HOME: process.env['HOME'], UPCAT_HOME: home };
    const pki = path.join(signing, 'pki');
    const read = (name: string) => readFile(path.join(pki, name), 'utf8');
    const signer = {
      certificatePem: await read('publisher.pem'),
      privateKeyPem: await read('publisher.key.pem'),
      chainPems: [await read('ca.pem')],
    };
    const pkg = packageBody({ payload: Buffer.from('cab payload'), title: 'Cab 1.0' });
    const xml = path.join(home, 'VendorCatalog.xml');
    await writeFile(xml, vendorCatalog([pkg.xml]));
    const unsigned = path.join(home, 'unsigned.cab');
    await writeCab([{ name: 'VendorCatalog.xml', source: xml }], unsigned);
    const cab = path.join(home, 'vendor.cab');
    await signCabFile(unsigned, cab, signer);

    // Independent check of the cabinet: cabextract lists the catalog inside.
    const listed = await promisify(execFile)('cabextract', ['-l', cab]);
    t.regex(listed.stdout, /VendorCatalog\.xml/);

    const ok = await runCli(
      ['import-catalog', cab, '--trust', path.join(pki, 'ca.pem'), '--metadata-only', '--json'],
      env,
    );
    t.is(ok.code, 0, ok.stderr);
    const out = JSON.parse(ok.stdout) as { packages: Outcome[]; signer: { subject: string } };
    t.deepEqual(
      out.packages.map((p) => p.status),
      ['awaiting_content'],
    );
    t.regex(out.signer.subject, /CN=/);

    // Another CA: untrusted. One line, nothing stored.
    const other = path.join(home, 'other-ca.pem');
    await promisify(execFile)('openssl', [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      path.join(home, 'other.key'),
      '-out',
      other,
      '-subj',
      '/CN=Other CA',
      '-days',
      '2',
    ]);
    const untrusted = await runCli(
      ['import-catalog', cab, '--trust', other, '--metadata-only'],
      env,
    );
    t.is(untrusted.code, 2);
    t.is(untrusted.stderr.trim().split('\n').length, 1);
    t.regex(untrusted.stderr, /vendor\.cab/);

    // One flipped byte inside the signed range: tampered.
    const bytes = await readFile(cab);
    const at = bytes.indexOf(Buffer.from('Cab 1.0'));
    const flipped = Buffer.from(bytes);
    flipped[at > 0 ? at : 100] ^= 0x01;
    const tampered = path.join(home, 'tampered.cab');
    await writeFile(tampered, flipped);
    const refused = await runCli(
      ['import-catalog', tampered, '--trust', path.join(pki, 'ca.pem'), '--metadata-only'],
      env,
    );
    t.is(refused.code, 2);
    t.is(refused.stderr.trim().split('\n').length, 1);
    const noTrust = await runCli(['import-catalog', cab, '--metadata-only'], env);
    t.regex(noTrust.stderr, /give --trust CERT/);
  } finally {
    await rm(home, { recursive: true, force: true });
  }
});
