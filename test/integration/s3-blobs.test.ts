import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import test from 'ava';
import request from 'supertest';
import { runGc } from '../../src/ops/maintenance.js';
import { createApp } from '../../src/server/app.js';
import { BlobPool } from '../../src/storage/blobs/pool.js';
import { S3BlobStore } from '../../src/storage/blobs/s3-store.js';
import { fileManifest, publishBytes } from '../helpers/publish.js';
import { makeS3Site, startS3, type S3Server } from '../helpers/s3.js';
import { DATABASES } from '../helpers/site.js';
import {
  all,
  deployToAll,
  filesOf,
  pick,
  serve,
  windowsManifest,
  WuaSimulator,
} from '../helpers/wua-simulator.js';

/**
 * Issue 15 item 1: the S3 adapter of the blob store port against s3rver (an S3-compatible
 * server from npm): staging streams to a temporary key and commit copies it into the pool; a
 * publish stays all-or-nothing; content is served with Range, ETag and 304, or redirected; gc
 * removes unreferenced objects through the port.
 */

let s3: S3Server;
test.before(async () => {
  s3 = await startS3();
});
test.after.always(async () => {
  await s3?.close();
});

const MiB = 1024 * 1024;
const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

async function keys(bucket: string, prefix = ''): Promise<string[]> {
  const out = await s3.client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
  return (out.Contents ?? []).map((o) => o.Key as string).sort();
}

/** A stream that yields `bytes` in 1 MiB chunks, then fails if `failAfter` says so. */
function chunks(bytes: Buffer, failAfter?: number): Readable {
  return Readable.from(
    (async function* () {
      for (let i = 0; i < bytes.length; i += MiB) {
        if (failAfter !== undefined && i >= failAfter) throw new Error('connection reset');
        yield bytes.subarray(i, i + MiB);
      }
    })(),
  );
}

async function adapter(
  options: ConstructorParameters<typeof S3BlobStore>[2] = {},
): Promise<{ store: S3BlobStore; bucket: string; local: BlobPool; dir: string }> {
  const bucket = await s3.bucket();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'upcat-s3-local-'));
  const local = new BlobPool(dir, { directIo: false });
  const store = new S3BlobStore(
    { bucket, prefix: 'p/', endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true },
    local,
    { partBytes: 5 * MiB, ...options },
  );
  await store.init();
  return { store, bucket, local, dir };
}

test('stage streams to a temporary key; commit copies into pool/<aa>/<sha256>', async (t) => {
  // Past one part: a multipart upload. (The UploadPartCopy path for objects over 5 GiB is not
  // exercised: s3rver answers 501 to CopySourceRange.)
  const { store, bucket, dir } = await adapter();
  const bytes = randomBytes(11 * MiB + 123);
  const digest = sha256(bytes);
  const staged = await store.stage(chunks(bytes), 64 * MiB);
  t.is(staged.sha256, digest);
  t.is(staged.sha1, createHash('sha1').update(bytes).digest('hex'));
  t.is(staged.size, bytes.length);
  const tmp = await keys(bucket, 'p/tmp/');
  t.is(tmp.length, 1);
  t.is(await store.sizeOf(digest), undefined, 'not visible before commit');

  await staged.commit();
  t.deepEqual(await keys(bucket), [`p/pool/${digest.slice(0, 2)}/${digest}`]);
  t.is(await store.sizeOf(digest), bytes.length);
  t.true(await store.verify(digest));
  const part: Buffer[] = [];
  for await (const c of await store.read(digest, { start: 5, end: 5 + MiB }))
    part.push(c as Buffer);
  t.true(Buffer.concat(part).equals(bytes.subarray(5, 6 + MiB)));
  await staged.discard(); // after commit: a no-op
  t.is(await store.sizeOf(digest), bytes.length);
  t.deepEqual(await readdir(path.join(dir, 'tmp')), [], 'local staging file gone');

  const listed = [];
  for await (const b of store.list()) listed.push(b);
  t.deepEqual(
    listed.map((b) => [b.sha256, b.size]),
    [[digest, bytes.length]],
  );
  await store.writeSignature(digest, Buffer.from('sig'));
  await store.remove(digest);
  t.deepEqual(await keys(bucket), []);
  t.false(await store.verify(digest));
  await rm(dir, { recursive: true, force: true });
});

test('discard, an upload failing midway and an over-limit payload leave nothing', async (t) => {
  const { store, bucket, dir } = await adapter();
  const staged = await store.stage(chunks(randomBytes(2 * MiB)), 64 * MiB);
  await staged.discard();
  t.deepEqual(await keys(bucket), []);

  await t.throwsAsync(store.stage(chunks(randomBytes(12 * MiB), 7 * MiB), 64 * MiB), {
    message: /connection reset/,
  });
  await t.throwsAsync(store.stage(chunks(randomBytes(3 * MiB)), 2 * MiB), {
    message: /larger than the limit/,
  });
  t.deepEqual(await keys(bucket), []);
  t.deepEqual(await readdir(path.join(dir, 'tmp')), []);
  await rm(dir, { recursive: true, force: true });
});

for (const kind of DATABASES) {
  test.serial(`a site on S3: publish, serve with Range/ETag/304, gc [${kind}]`, async (t) => {
    const { site, bucket, cleanup } = await makeS3Site(kind, s3);
    try {
      t.is(site.blobs.kind, 's3');
      const bytes = randomBytes(3 * MiB + 17);
      const digest = sha256(bytes);

      // All-or-nothing: an upload that fails midway leaves no row and no object.
      await t.throwsAsync(
        site.publish.publish({
          source: chunks(bytes, 2 * MiB),
          fileName: 'tool.bin',
          manifest: fileManifest('tool.bin'),
          actor: 'test',
        }),
      );
      t.is(Number((await site.db('blobs').count({ n: '*' }))[0]?.n), 0);
      t.deepEqual(await keys(bucket), []);

      const published = await publishBytes(site, bytes, fileManifest('tool.bin'));
      t.is(published.sha256, digest);
      const stored = await keys(bucket);
      t.true(stored.includes(`site/pool/${digest.slice(0, 2)}/${digest}`));
      t.true(stored.includes(`site/signatures/${digest.slice(0, 2)}/${digest}.p7s`));
      t.false(stored.some((k) => k.startsWith('site/tmp/')));
      // The update document is a blob of the store too.
      const doc = (await site.db('revisions').first('document_sha256')) as {
        document_sha256: string;
      };
      t.true(
        stored.includes(`site/pool/${doc.document_sha256.slice(0, 2)}/${doc.document_sha256}`),
      );

      const app = createApp(site);
      const full = await request(app).get(`/content/${digest}`).responseType('blob');
      t.is(full.status, 200);
      t.is(full.headers['etag'], `"${digest}"`);
      t.true((full.body as Buffer).equals(bytes));
      const part = await request(app)
        .get(`/content/${digest}`)
        .set('Range', 'bytes=100-199')
        .responseType('blob');
      t.is(part.status, 206);
      t.is(part.headers['content-range'], `bytes 100-199/${bytes.length}`);
      t.true((part.body as Buffer).equals(bytes.subarray(100, 200)));
      const tail = await request(app).get(`/content/${digest}`).set('Range', 'bytes=-10');
      t.is(tail.status, 206);
      t.is(
        tail.headers['content-range'],
        `bytes ${bytes.length - 10}-${bytes.length - 1}/${bytes.length}`,
      );
      const beyond = await request(app)
        .get(`/content/${digest}`)
        .set('Range', `bytes=${bytes.length}-`);
      t.is(beyond.status, 416);
      const cached = await request(app)
        .get(`/content/${digest}`)
        .set('If-None-Match', `"${digest}"`);
      t.is(cached.status, 304);
      const head = await request(app).head(`/content/${digest}`);
      t.is(head.status, 200);
      t.is(head.headers['content-length'], String(bytes.length));
      const sig = await request(app).get(`/content/${digest}.p7s`).responseType('blob');
      t.is(sig.status, 200);
      t.is(sig.headers['content-type'], 'application/pkcs7-signature');
      t.true((sig.body as Buffer).length > 100);

      // gc: an object no row names (a crash between copy and commit) goes; the published stays.
      const orphan = randomBytes(1000);
      const orphanKey = `site/pool/${sha256(orphan).slice(0, 2)}/${sha256(orphan)}`;
      await s3.client.send(new PutObjectCommand({ Bucket: bucket, Key: orphanKey, Body: orphan }));
      const strayTmp = 'site/tmp/1-dead';
      await s3.client.send(new PutObjectCommand({ Bucket: bucket, Key: strayTmp, Body: 'x' }));
      const later = new Date(Date.now() + 24 * 3600 * 1000);
      const report = await runGc(site, { now: () => later });
      t.is(report.unreferencedPayloads.files, 1);
      t.is(report.unreferencedPayloads.bytes, 1000);
      t.true(report.temporaryFiles.files >= 1);
      const after = await keys(bucket);
      t.false(after.includes(orphanKey));
      t.false(after.includes(strayTmp));
      t.true(after.includes(`site/pool/${digest.slice(0, 2)}/${digest}`));
      t.true(await site.blobs.verify(digest));
    } finally {
      await cleanup();
    }
  });

  test.serial(`redirect: 302 to a presigned URL that serves the bytes [${kind}]`, async (t) => {
    const { site, cleanup } = await makeS3Site(kind, s3, { redirect: 'presigned' });
    try {
      const bytes = randomBytes(4096);
      const digest = sha256(bytes);
      await publishBytes(site, bytes, fileManifest('tool.bin'));
      const res = await request(createApp(site)).get(`/content/${digest}`).redirects(0);
      t.is(res.status, 302);
      const url = res.headers['location'] as string;
      t.true(url.startsWith(s3.endpoint) && url.includes('X-Amz-Signature='));
      const got = await fetch(url, { headers: { Range: 'bytes=0-99' } });
      t.is(got.status, 206);
      t.true(Buffer.from(await got.arrayBuffer()).equals(bytes.subarray(0, 100)));
      const missing = await request(createApp(site)).get(`/content/${'0'.repeat(64)}`);
      t.is(missing.status, 404, 'only payloads a revision names are redirected');
    } finally {
      await cleanup();
    }
  });
}

for (const kind of DATABASES) {
  test.serial(
    `MS-WUSP on S3: the signed cabinet is made from the stored payload, stored, and served with ranges [${kind}]`,
    async (t) => {
      const { site, bucket, cleanup } = await makeS3Site(kind, s3);
      const server = await serve(site);
      try {
        site.config.site.approval = 'auto-all';
        const published = await publishBytes(
          site,
          Buffer.from('MZ fake installer '.repeat(4000)),
          windowsManifest(),
          'setup.exe',
        );
        await deployToAll(site, published.updateId);
        const wua = new WuaSimulator(server.url);
        await wua.connect();
        await wua.syncAll();
        const [update] = wua.actionable();
        t.truthy(update);
        if (update === undefined) return;
        const ext = await wua.extendedInfo([update.revisionId]);
        const xmls = all(pick(ext, 'Updates'), 'Update').map((u) => pick(u, 'Xml')?.text ?? '');
        const [file] = filesOf(xmls.find((x) => x.startsWith('<ExtendedProperties')) ?? '');
        const url = pick(ext, 'FileLocations', 'FileLocation', 'Url')?.text ?? '';
        t.truthy(file);
        if (file === undefined) return;
        // HEAD, then ranged GETs, checked against the File element's SHA-1 and SHA-256.
        const got = await wua.download(url, file);
        t.true(got.rangesUsed > 1);
        const row = (await site.db('wusp_content').first('sha256')) as { sha256: string };
        t.true((await keys(bucket)).includes(`site/pool/${row.sha256.slice(0, 2)}/${row.sha256}`));
        t.is(sha256(got.bytes), row.sha256);
        // gc keeps the cabinet of a payload still needed.
        await runGc(site, { now: () => new Date(Date.now() + 24 * 3600 * 1000) });
        t.true(await site.blobs.verify(row.sha256));
      } finally {
        await server.close();
        await cleanup();
      }
    },
  );
}

test('a CDN base: 302 to <base>/<key>', async (t) => {
  const { site, cleanup } = await makeS3Site('sqlite', s3, { redirect: 'https://cdn.example/' });
  try {
    const bytes = randomBytes(64);
    const digest = sha256(bytes);
    await publishBytes(site, bytes, fileManifest('tool.bin'));
    const res = await request(createApp(site)).get(`/content/${digest}`).redirects(0);
    t.is(res.status, 302);
    t.is(res.headers['location'], `https://cdn.example/site/pool/${digest.slice(0, 2)}/${digest}`);
  } finally {
    await cleanup();
  }
});
