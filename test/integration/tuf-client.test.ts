import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import request from 'supertest';
import { rotateKey } from '../../src/signing/rotate.js';
import { initKeys, listKeys } from '../../src/signing/key-store.js';
import { publishTargets, readRepository, refreshTimestamp } from '../../src/signing/tuf-repo.js';
import { download, makeTufFixture, sha256 } from '../helpers/tuf.js';

const HOUR = 60 * 60 * 1000;

test('a tuf-js client refreshes, finds an update document with its custom field, and downloads a payload', async (t) => {
  const fx = await makeTufFixture();
  try {
    await fx.publish({ 'updates/a/1.xml': '<Update/>', 'payloads/tool.bin': 'payload bytes' });
    const client = await fx.client();
    await client.refresh();
    const doc = await client.getTargetInfo('updates/a/1.xml');
    t.is(doc?.length, 9);
    t.truthy(doc?.custom['updateId']);
    t.is((await download(client, 'payloads/tool.bin')).toString(), 'payload bytes');
    t.is(await client.getTargetInfo('payloads/absent.bin'), undefined);
  } finally {
    await fx.close();
  }
});

test('one new target re-signs one bin: a current client downloads timestamp, snapshot and that bin', async (t) => {
  const fx = await makeTufFixture({ binBits: 8 });
  try {
    const many: Record<string, string> = {};
    for (let i = 0; i < 200; i++) many[`updates/u${i}/1.xml`] = `<Update n="${i}"/>`;
    await fx.publish(many);
    const client = await fx.client();
    await client.refresh();
    t.truthy(await client.getTargetInfo('updates/u7/1.xml'));

    const summary = await fx.publish({ 'updates/new/1.xml': '<Update n="new"/>' });
    t.deepEqual(
      summary.written.map((f) => f.replace(/bins-[0-9a-f]+/, 'bins-X')),
      ['2.bins-X.json', '2.snapshot.json', 'timestamp.json'],
    );
    fx.requests.length = 0;
    const again = await fx.client();
    await again.refresh();
    t.truthy(await again.getTargetInfo('updates/new/1.xml'));
    t.deepEqual(
      fx.requests.map((p) => p.replace(/bins-[0-9a-f]+/, 'bins-X')),
      ['/tuf/2.root.json', '/tuf/timestamp.json', '/tuf/2.snapshot.json', '/tuf/2.bins-X.json'],
    );
    let bytes = 0;
    for (const file of summary.written) bytes += (await stat(path.join(fx.repoDir, file))).size;
    t.log(`metadata a current client downloads for one new update: ${bytes} bytes`);
    t.true(bytes < 64 * 1024);
  } finally {
    await fx.close();
  }
});

test('a replayed catalog version writes nothing (safe retry after a crash)', async (t) => {
  const fx = await makeTufFixture();
  try {
    await fx.publish({ 'a.bin': 'a' });
    const before = await readdir(fx.repoDir);
    const ring = await fx.keyring();
    const again = await publishTargets(
      fx.repoDir,
      ring,
      { add: [], catalogVersion: 1 },
      fx.options,
    );
    t.deepEqual(again.written, []);
    t.deepEqual(await readdir(fx.repoDir), before);
    t.is((await readRepository(fx.repoDir))?.catalogVersion, 1);
  } finally {
    await fx.close();
  }
});

test('/tuf/timestamp.json has a strong ETag and answers 304 to a matching If-None-Match', async (t) => {
  const fx = await makeTufFixture();
  try {
    await fx.publish({ 'a.bin': 'a' });
    const first = await request(fx.baseUrl).get('/tuf/timestamp.json').expect(200);
    const etag = first.headers['etag'] as string;
    t.regex(etag, /^"[0-9a-f]{32}"$/);
    t.is(first.headers['cache-control'], 'no-cache');
    await request(fx.baseUrl).get('/tuf/timestamp.json').set('If-None-Match', etag).expect(304);
    await fx.publish({ 'b.bin': 'b' });
    const changed = await request(fx.baseUrl)
      .get('/tuf/timestamp.json')
      .set('If-None-Match', etag)
      .expect(200);
    t.not(changed.headers['etag'], etag);
    t.is((JSON.parse(changed.text) as { signed: { version: number } }).signed.version, 2);
  } finally {
    await fx.close();
  }
});

test('/tuf/ serves versioned metadata and hash-prefixed targets as immutable, and 404s the rest', async (t) => {
  const fx = await makeTufFixture();
  try {
    await fx.publish({ 'payloads/tool.bin': 'tool' });
    const meta = await request(fx.baseUrl).get('/tuf/1.snapshot.json').expect(200);
    t.regex(meta.headers['cache-control'] as string, /immutable/);
    const digest = sha256('tool');
    const target = await request(fx.baseUrl)
      .get(`/tuf/targets/payloads/${digest}.tool.bin`)
      .expect(200);
    t.is(target.headers['etag'], `"${digest}"`);
    t.regex(target.headers['cache-control'] as string, /immutable/);
    await request(fx.baseUrl).get('/tuf/targets/payloads/tool.bin').expect(404);
    await request(fx.baseUrl)
      .get(`/tuf/targets/${'0'.repeat(64)}.x`)
      .expect(404);
    await request(fx.baseUrl).get('/tuf/.lock').expect(404);
    await request(fx.baseUrl).get('/tuf/9.snapshot.json').expect(404);
    await request(fx.baseUrl).head('/tuf/root.json').expect(200);
  } finally {
    await fx.close();
  }
});

test('refreshTimestamp keeps an idle site fresh: timestamp re-signed, then snapshot near its expiry', async (t) => {
  const start = Date.parse('2030-01-01T00:00:00Z');
  let now = start;
  const fx = await makeTufFixture({ now: () => new Date(now) });
  try {
    await fx.publish({ 'a.bin': 'a' });
    const ring = await fx.keyring();
    t.deepEqual((await refreshTimestamp(fx.repoDir, ring, fx.options)).written, []);
    now = start + 13 * HOUR; // past half of the 1-day timestamp period
    t.deepEqual((await refreshTimestamp(fx.repoDir, ring, fx.options)).written, ['timestamp.json']);
    now = start + 4 * 24 * HOUR; // past half of the 7-day snapshot period
    t.deepEqual((await refreshTimestamp(fx.repoDir, ring, fx.options)).written, [
      '2.snapshot.json',
      'timestamp.json',
    ]);
    now = start + 50 * 24 * HOUR; // past half of the 90-day targets period: bins and targets too
    const all = await refreshTimestamp(fx.repoDir, ring, fx.options);
    t.true(all.written.includes('2.targets.json'));
    t.is(all.written.filter((f) => f.includes('.bins-')).length, 16);
    t.is(all.written.at(-1), 'timestamp.json');
  } finally {
    await fx.close();
  }
});

test('keys rotate root: root 2 is signed by old and new keys and a client follows the chain', async (t) => {
  const fx = await makeTufFixture();
  try {
    await fx.publish({ 'a.bin': 'a' });
    const early = await fx.client('early');
    await early.refresh();
    const oldRoot = await fx.keyring();
    const result = await rotateKey(fx.signingDir, fx.repoDir, 'root', fx.options);
    const newRoot = await fx.keyring();
    t.notDeepEqual(
      newRoot.root.signers.map((s) => s.key.keyid),
      oldRoot.root.signers.map((s) => s.key.keyid),
    );
    const root2 = await fx.readJson('2.root.json');
    const sigs = (root2['signatures'] as Array<{ keyid: string }>).map((s) => s.keyid).sort();
    t.deepEqual(sigs, [...result.retired, ...newRoot.root.signers.map((s) => s.key.keyid)].sort());
    t.deepEqual(await readdir(path.join(fx.signingDir, 'tuf', 'retired')), [
      `root-${result.retired[0]?.slice(0, 16)}.json`,
    ]);
    await fx.publish({ 'b.bin': 'b' });
    for (const client of [await fx.client('early'), await fx.client('fresh')]) {
      await client.refresh();
      t.truthy(await client.getTargetInfo('b.bin'));
    }
  } finally {
    await fx.close();
  }
});

test('keys rotate targets: every bin is re-signed by the new key and clients still verify', async (t) => {
  const fx = await makeTufFixture();
  try {
    await fx.publish({ 'a.bin': 'a' });
    const result = await rotateKey(fx.signingDir, fx.repoDir, 'targets', fx.options);
    t.is(result.repository?.rootVersion, 2);
    t.is(result.repository?.targetsVersion, 2);
    const client = await fx.client();
    await client.refresh();
    t.is((await download(client, 'a.bin')).toString(), 'a');
  } finally {
    await fx.close();
  }
});

test('key files are mode 0600 and initKeys keeps existing keys', async (t) => {
  const fx = await makeTufFixture();
  try {
    const before = await listKeys(fx.signingDir);
    t.is(before.length, 4);
    for (const key of before) t.is((await stat(key.file)).mode & 0o777, 0o600);
    const again = await initKeys(fx.signingDir);
    t.deepEqual(again.created, []);
    t.deepEqual(again.keys, before);
    t.false(
      (await readFile(path.join(fx.signingDir, 'tuf', 'roles.json'), 'utf8')).includes('PRIVATE'),
    );
  } finally {
    await fx.close();
  }
});
