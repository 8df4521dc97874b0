import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import request from 'supertest';
import { createApp } from '../../src/server/app.js';
import { dbTest } from '../helpers/site.js';
import { fileManifest, publishBytes } from '../helpers/publish.js';

const BODY = 'abcdefghijklmnopqrstuvwxyz0123456789';
const SHA = createHash('sha256').update(BODY).digest('hex');

dbTest('GET /healthz and /v1/site answer with the site facts', async (t, { site }) => {
  const app = createApp(site);
  const health = await request(app).get('/healthz').expect(200);
  t.deepEqual(health.body, { status: 'ok', catalogVersion: 0 });
  const info = await request(app).get('/v1/site').expect(200);
  t.like(info.body, {
    siteCode: 'UPC',
    mode: 'mixed',
    minimumClientVersion: '0.1.0',
    catalogVersion: 0,
  });
  t.regex(info.body.siteVersion as string, /^\d+\.\d+\.\d+/);
});

dbTest(
  'GET /content/<sha256> serves the payload with a strong ETag and immutable caching',
  async (t, { site }) => {
    await publishBytes(site, BODY, fileManifest('tool.bin'));
    const app = createApp(site);
    const res = await request(app).get(`/content/${SHA}`).buffer(true).parse(binary).expect(200);
    t.is((res.body as Buffer).toString(), BODY);
    t.is(res.headers['etag'], `"${SHA}"`);
    t.regex(res.headers['cache-control'] ?? '', /immutable/);
    t.regex(res.headers['cache-control'] ?? '', /max-age=31536000/);
    t.is(res.headers['accept-ranges'], 'bytes');
    t.is(res.headers['content-type'], 'application/octet-stream');

    const head = await request(app).head(`/content/${SHA}`).expect(200);
    t.is(head.headers['content-length'], String(BODY.length));

    await request(app).get(`/content/${SHA}`).set('If-None-Match', `"${SHA}"`).expect(304);
  },
);

dbTest('Range requests answer 206 with the slice, 416 when unsatisfiable', async (t, { site }) => {
  await publishBytes(site, BODY, fileManifest('tool.bin'));
  const app = createApp(site);
  const part = await request(app)
    .get(`/content/${SHA}`)
    .set('Range', 'bytes=10-19')
    .buffer(true)
    .parse(binary)
    .expect(206);
  t.is((part.body as Buffer).toString(), BODY.slice(10, 20));
  t.is(part.headers['content-range'], `bytes 10-19/${BODY.length}`);
  const tail = await request(app)
    .get(`/content/${SHA}`)
    .set('Range', 'bytes=-5')
    .buffer(true)
    .parse(binary)
    .expect(206);
  t.is((tail.body as Buffer).toString(), BODY.slice(-5));
  const bad = await request(app).get(`/content/${SHA}`).set('Range', 'bytes=1000-2000').expect(416);
  t.is(bad.headers['content-range'], `bytes */${BODY.length}`);
  // If-Range with a stale validator gives the whole payload, not a slice of other content.
  const stale = await request(app)
    .get(`/content/${SHA}`)
    .set('Range', 'bytes=0-1')
    .set('If-Range', '"something-else"')
    .buffer(true)
    .parse(binary)
    .expect(200);
  t.is((stale.body as Buffer).length, BODY.length);
});

dbTest(
  'content: bad digests are 400, unknown digests 404, with a coded JSON body',
  async (t, { site }) => {
    const app = createApp(site);
    const bad = await request(app).get('/content/../../etc/passwd').expect(404);
    t.is(bad.body.error.code, 'not_found');
    const notHex = await request(app).get('/content/xyz').expect(400);
    t.is(notHex.body.error.code, 'invalid_input');
    const unknown = await request(app)
      .get(`/content/${'0'.repeat(64)}`)
      .expect(404);
    t.is(unknown.body.error.code, 'not_found');
    const route = await request(app).get('/nowhere').expect(404);
    t.deepEqual(route.body, { error: { code: 'not_found', message: 'no route for GET /nowhere' } });
  },
);

dbTest('an unreferenced pool file (from a crashed publish) is not served', async (t, { site }) => {
  const staged = await site.pool.stage(Readable.from([Buffer.from('orphan')]), 100);
  await staged.commit();
  const app = createApp(site);
  const res = await request(app).get(`/content/${staged.sha256}`);
  t.is(res.status, 404);
});

/** supertest parser that keeps the body as bytes. */
function binary(res: request.Response, cb: (err: Error | null, body: Buffer) => void): void {
  const stream = res as unknown as NodeJS.ReadableStream;
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  stream.on('end', () => cb(null, Buffer.concat(chunks)));
}
