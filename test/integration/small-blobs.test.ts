import { createHash } from 'node:crypto';
import { utimes } from 'node:fs/promises';
import request from 'supertest';
import { createApp } from '../../src/server/app.js';
import { smallBlobsOf } from '../../src/server/small-blobs.js';
import { dbTest } from '../helpers/site.js';
import { fileManifest, publishBytes } from '../helpers/publish.js';

/**
 * Small blobs answered from memory (server/small-blobs.ts, issue 16): the same answer as from the
 * file, and never a blob whose file gc removed or a signature that was written again since.
 */

const BODY = 'the payload of small-blobs.test.ts';
const SHA = createHash('sha256').update(BODY).digest('hex');

dbTest(
  'small blobs: served from memory with the same headers, and not once the file is gone or changed',
  async (t, { site }) => {
    await publishBytes(site, BODY, fileManifest('tool.bin'));
    const app = createApp(site);
    const memory = smallBlobsOf(site.blobs);
    const get = (url: string, status = 200): request.Test =>
      request(app).get(url).responseType('blob').expect(status);
    const target = `/tuf/targets/payloads/${SHA}.${SHA}`;

    const first = await get(`/content/${SHA}`);
    t.is(memory.size, 1, 'the payload is kept');
    const again = await get(target);
    t.is(memory.size, 1, 'one entry for both routes');
    for (const res of [first, again]) {
      t.is((res.body as Buffer).toString(), BODY);
      t.is(res.headers['etag'], `"${SHA}"`);
      t.is(res.headers['content-type'], 'application/octet-stream');
      t.is(res.headers['content-length'], String(BODY.length));
      t.is(res.headers['accept-ranges'], 'bytes');
      t.is(res.headers['cache-control'], 'public, max-age=31536000, immutable');
      t.is(res.headers['x-content-type-options'], 'nosniff');
    }
    // Conditional and partial requests are still answered by the file path.
    await request(app).get(target).set('If-None-Match', `"${SHA}"`).expect(304);
    const part = await get(target, 206).set('Range', 'bytes=0-2');
    t.is((part.body as Buffer).toString(), BODY.slice(0, 3));

    // A signature written again (a re-signed payload) is the one served next.
    const signature = `/content/${SHA}.p7s`;
    const signed = await get(signature);
    t.is(signed.headers['content-type'], 'application/pkcs7-signature');
    t.is((await get(signature)).body.length, (signed.body as Buffer).length);
    const other = Buffer.from('another signature, as a re-sign would write');
    await site.blobs.writeSignature(SHA, other);
    t.deepEqual((await get(signature)).body, other);
    // Rewritten in place with the same size: the mtime tells.
    const same = Buffer.from(other).fill(0x41);
    await site.blobs.writeSignature(SHA, same);
    const file = site.pool.signaturePathOf(SHA);
    await utimes(file, new Date(), new Date(Date.now() + 5_000));
    t.deepEqual((await get(signature)).body, same);

    // gc removes the files of a retired blob (its row stays): no answer from memory then.
    await site.blobs.remove(SHA);
    await request(app).get(`/content/${SHA}`).expect(404);
    await request(app).get(target).expect(404);
    await request(app).get(signature).expect(404);
  },
);
