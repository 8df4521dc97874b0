import { createHash, randomBytes, X509Certificate } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { verifyDetachedCms } from '../../src/agent/cms-verify.js';
import { downloadPayload, isTampered } from '../../src/agent/download.js';
import { Outbox } from '../../src/agent/outbox.js';
import { mergePolicy, verifyPolicy } from '../../src/agent/policy.js';
import { SiteClient, SiteUnreachableError } from '../../src/agent/site-client.js';
import { canonicalJson } from '../../src/catalog/canonical-json.js';
import { loadConfig } from '../../src/config/load.js';
import { signDigest } from '../../src/signing/cms.js';
import { issueCertificate, loadCa, loadPublisher, rsaKeyPair } from '../../src/signing/ca.js';
import { fileKeySigner, generateKeyMaterial } from '../../src/signing/signer.js';
import { sharedSigningDir } from '../helpers/site.js';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** A content server that, while `dropAfter` is set, closes the connection after that many bytes. */
async function contentServer(payload: Buffer) {
  const seen: string[] = [];
  const ctl = {
    dropAfter: undefined as number | undefined,
    seen,
    url: '',
    close: async () => undefined as void,
  };
  const server = http.createServer((req, res) => {
    seen.push(req.headers.range ?? 'none');
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const from = m === null ? 0 : Number(m[1]);
    const body = payload.subarray(from);
    res.writeHead(m === null ? 200 : 206, { 'content-length': String(body.length) });
    if (ctl.dropAfter === undefined) {
      res.end(body);
      return;
    }
    res.write(body.subarray(0, ctl.dropAfter), () => res.socket?.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  ctl.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  ctl.close = () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return ctl;
}

test('a download cut after N bytes resumes with Range and is verified whole', async (t) => {
  const payload = randomBytes(512 * 1024);
  const srv = await contentServer(payload);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'upcat-dl-'));
  t.teardown(async () => {
    await srv.close();
    await rm(dir, { recursive: true, force: true });
  });
  const site = new SiteClient(srv.url);
  const target = { sha256: sha(payload), length: payload.length };
  srv.dropAfter = 100_000;
  await t.throwsAsync(downloadPayload(site, target, dir), { instanceOf: SiteUnreachableError });
  const partial = (await stat(path.join(dir, `${target.sha256}.partial`))).size;
  t.true(partial > 0 && partial <= 100_000);
  srv.dropAfter = undefined;
  const got = await downloadPayload(site, target, dir);
  t.is(got.resumedFrom, partial);
  t.is(got.fetched, payload.length - partial);
  t.deepEqual(srv.seen, ['none', `bytes=${partial}-`]);
  t.true((await readFile(got.file)).equals(payload));
  // Already complete: nothing is fetched again.
  t.is((await downloadPayload(site, target, dir)).fetched, 0);
});

test('bytes that do not match the signed hash, or run past the signed length, are refused', async (t) => {
  const payload = randomBytes(64 * 1024);
  const srv = await contentServer(payload);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'upcat-dl-'));
  t.teardown(async () => {
    await srv.close();
    await rm(dir, { recursive: true, force: true });
  });
  const site = new SiteClient(srv.url);
  await t.throwsAsync(
    downloadPayload(site, { sha256: '0'.repeat(64), length: payload.length }, dir),
    {
      message: /do not match the SHA-256/,
    },
  );
  await t.throwsAsync(
    stat(path.join(dir, `${'0'.repeat(64)}.partial`)),
    undefined,
    'a bad part is deleted',
  );
  const long = await t.throwsAsync(
    downloadPayload(site, { sha256: sha(payload), length: 1000 }, dir),
    { message: /more than the 1000 bytes/ },
  );
  // Issue 13 item 5: a tampered response, and no part (not even an empty one) is left behind.
  t.true(isTampered(long));
  t.deepEqual(await readdir(dir), []);
});

test('offline: state messages queue on disk and go out, once each, when the site is back', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'upcat-outbox-'));
  const received: Array<{ path: string; ids: string[] }> = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      const parsed = JSON.parse(body) as { messages: Array<{ id: string }> };
      received.push({ path: req.url ?? '', ids: parsed.messages.map((m) => m.id) });
      res.writeHead(202, { 'content-type': 'application/json' }).end('{"received":1,"stored":1}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((r) => server.close(() => r())); // the site is down
  t.teardown(() => rm(dir, { recursive: true, force: true }));

  const site = new SiteClient(`http://127.0.0.1:${port}`, 'secret');
  const box = new Outbox(dir);
  await box.load();
  await box.add({ topic: 'client', state: 'cannot_reach_site' });
  await box.add({
    topic: 'update',
    updateId: '00000000-0000-4000-8000-000000000001',
    state: 'failed',
    code: 1,
  });
  const offline = await box.flush({ kind: 'client', site });
  t.is(offline.sent, 0);
  t.true(offline.error instanceof SiteUnreachableError);

  const again = new Outbox(dir); // a later cycle, another process
  await again.load();
  t.is(again.size, 2);
  const ids = again.pending().map((m) => m.id);
  t.is(new Set(ids).size, 2);
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  t.like(await again.flush({ kind: 'client', site }), { sent: 2 });
  t.deepEqual(received, [{ path: '/v1/status', ids }]);
  t.is(again.size, 0);
  await again.add({ topic: 'client', state: 'cannot_reach_site' });
  const claims = { hardwareId: 'hw', name: 'pc', clientVersion: '0.1.0' };
  t.like(await again.flush({ kind: 'fallback', site, claims }), { sent: 1 });
  t.is(received[1]?.path, '/fsp/v1/status');
});

test('CMS: a site signature verifies; other content, another CA or a damaged signature do not', async (t) => {
  const config = loadConfig({ home: path.dirname(await sharedSigningDir()), env: {} });
  const publisher = await loadPublisher(config.dirs.signing);
  const ca = await loadCa(config.dirs.signing);
  const payload = randomBytes(1000);
  const der = signDigest(createHash('sha256').update(payload).digest(), publisher);
  t.notThrows(() => verifyDetachedCms(der, sha(payload), ca.certificatePem));
  t.throws(() => verifyDetachedCms(der, sha(Buffer.from('other')), ca.certificatePem), {
    message: /other content/,
  });
  t.throws(() => verifyDetachedCms(der, sha(payload), publisher.certificatePem), {
    message: /not issued by the site CA/,
  });
  const bad = Buffer.from(der);
  bad[bad.length - 5] = (bad[bad.length - 5] ?? 0) ^ 0xff;
  t.throws(() => verifyDetachedCms(bad, sha(payload), ca.certificatePem), {
    message: /does not verify/,
  });
  t.throws(() => verifyDetachedCms(Buffer.from('junk'), sha(payload), ca.certificatePem), {
    message: /CMS/,
  });
});

test('CMS: only a codeSigning certificate may sign a payload; the endpoint (clientAuth) and server certificates may not', async (t) => {
  const config = loadConfig({ home: path.dirname(await sharedSigningDir()), env: {} });
  const ca = await loadCa(config.dirs.signing);
  const publisher = await loadPublisher(config.dirs.signing);
  const CODE_SIGNING = '1.3.6.1.5.5.7.3.3';
  t.deepEqual(new X509Certificate(publisher.certificatePem).keyUsage, [CODE_SIGNING]);
  const payload = randomBytes(1000);
  const digest = createHash('sha256').update(payload).digest();
  const keys = rsaKeyPair(2048);
  const issued = (usage: 'clientAuth' | 'serverAuth') => ({
    certificatePem: issueCertificate(ca, {
      subject: { commonName: usage === 'clientAuth' ? 'a-client-id' : '127.0.0.1' },
      publicKey: { pem: keys.publicKeyPem },
      usage,
      dnsNames: ['127.0.0.1'],
    }),
    privateKeyPem: keys.privateKeyPem,
  });
  const client = issued('clientAuth');
  const server = issued('serverAuth');
  t.deepEqual(new X509Certificate(client.certificatePem).keyUsage, ['1.3.6.1.5.5.7.3.2']);
  t.deepEqual(new X509Certificate(server.certificatePem).keyUsage, ['1.3.6.1.5.5.7.3.1']);
  // Both chain to the site CA and sign correctly: only their usage is wrong.
  for (const pair of [client, server]) {
    const der = signDigest(digest, pair);
    t.throws(() => verifyDetachedCms(der, sha(payload), ca.certificatePem), {
      message: /CMS signature: the signer certificate \(CN=.*\) is not a code-signing certificate$/,
    });
  }
  // The site CA's own key is no publisher either.
  t.throws(() => verifyDetachedCms(signDigest(digest, ca), sha(payload), ca.certificatePem), {
    message: /not issued by the site CA|not a code-signing certificate/,
  });
  t.notThrows(() =>
    verifyDetachedCms(signDigest(digest, publisher), sha(payload), ca.certificatePem),
  );
});

test('policy: verified with the pinned key, bound to client and site, merged incrementally', async (t) => {
  const signer = fileKeySigner(generateKeyMaterial('ed25519'));
  const entry = (id: string, revision = 1) => ({
    updateId: id,
    revision,
    action: 'install' as const,
    deadline: null,
    files: [{ name: 'a', sha256: 'a'.repeat(64), sha1: 'b'.repeat(40), size: 1 }],
  });
  const signed = {
    _type: 'upcat-policy',
    siteCode: 'UPC',
    clientId: 'c1',
    status: 'approved',
    catalogVersion: 3,
    issued: new Date().toISOString(),
    expires: new Date(Date.now() + 60_000).toISOString(),
    full: false,
    deployments: [entry('u2', 2)],
    removed: ['u1'],
  };
  const sign = async (doc: object) => ({
    policy: {
      signed: doc,
      signatures: [
        {
          keyid: signer.key.keyid,
          sig: Buffer.from(await signer.sign(Buffer.from(canonicalJson(doc)))).toString('hex'),
        },
      ],
    },
    anchor: 'a1.x',
  });
  const expect = { key: signer.key, clientId: 'c1', siteCode: 'UPC' };
  const { policy } = verifyPolicy(await sign(signed), expect);
  t.deepEqual(
    mergePolicy([entry('u1'), entry('u2'), entry('u3')], policy).map((e) => [
      e.updateId,
      e.revision,
    ]),
    [
      ['u2', 2],
      ['u3', 1],
    ],
  );
  const forged = await sign(signed);
  (forged.policy.signed as { deployments: unknown[] }).deployments = [];
  t.throws(() => verifyPolicy(forged, expect), { message: /not signed by the pinned policy key/ });
  const good = await sign(signed);
  const expired = await sign({ ...signed, expires: '2000-01-01T00:00:00Z' });
  t.throws(() => verifyPolicy(good, { ...expect, clientId: 'c2' }), { message: /names client c1/ });
  t.throws(() => verifyPolicy(expired, expect), { message: /expired/ });
  const other = fileKeySigner(generateKeyMaterial('ed25519'));
  t.throws(() => verifyPolicy(good, { ...expect, key: other.key }), { message: /pinned/ });
});

test('outbox: a batch the site refuses as malformed is resent one by one; only the refused message is dropped', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'upcat-outbox-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const stored: string[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      const { messages } = JSON.parse(body) as { messages: Array<{ id: string; state: string }> };
      if (messages.some((m) => m.state === 'some_future_state')) {
        res
          .writeHead(400, { 'content-type': 'application/json' })
          .end('{"error":{"code":"invalid_input","message":"messages.1.state: invalid"}}');
        return;
      }
      stored.push(...messages.map((m) => m.state));
      res.writeHead(202, { 'content-type': 'application/json' }).end('{"received":1,"stored":1}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const site = new SiteClient(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, 's');
  const box = new Outbox(dir);
  await box.load();
  await box.add({ topic: 'client', state: 'cannot_reach_site' });
  await box.add({ topic: 'client', state: 'some_future_state' });
  await box.add({ topic: 'client', state: 'failed' });
  t.like(await box.flush({ kind: 'client', site }), { sent: 2 });
  t.deepEqual(stored, ['cannot_reach_site', 'failed']);
  t.is(box.size, 0);
});
