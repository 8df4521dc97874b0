import { createHash } from 'node:crypto';
import net from 'node:net';
import type { Express } from 'express';
import request from 'supertest';
import { createApp } from '../../src/server/app.js';
import { fileManifest, snapshot } from '../helpers/publish.js';
import { dbTest } from '../helpers/site.js';
import { tokenOf } from '../helpers/tokens.js';
import { eventually, listen, uploadForm } from '../helpers/upload.js';

interface Answer {
  status: number;
  body: Record<string, unknown> & { error?: { code: string; message: string } };
}

async function post(
  app: Express,
  form: { contentType: string; body: Buffer },
  headers: Record<string, string>,
): Promise<Answer> {
  const req = request(app).post('/v1/updates').set('Content-Type', form.contentType);
  for (const [k, v] of Object.entries(headers)) req.set(k, v);
  const res = await req.send(form.body);
  return { status: res.status, body: res.body as Answer['body'] };
}

const bearer = (token: string): Record<string, string> => ({ Authorization: `Bearer ${token}` });

function sha256(bytes: string | Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Opens a raw connection and sends the request head and `parts` of the body (not all of it). */
async function partialUpload(
  port: number,
  token: string,
  form: { contentType: string; body: Buffer },
  sendBytes: number,
  key?: string,
): Promise<net.Socket> {
  const socket = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  socket.on('error', () => undefined);
  socket.write(
    [
      'POST /v1/updates HTTP/1.1',
      'Host: 127.0.0.1',
      'Connection: close',
      `Authorization: Bearer ${token}`,
      `Content-Type: ${form.contentType}`,
      `Content-Length: ${form.body.length}`,
      ...(key === undefined ? [] : [`Idempotency-Key: ${key}`]),
      '',
      '',
    ].join('\r\n'),
  );
  socket.write(form.body.subarray(0, sendBytes));
  return socket;
}

dbTest(
  'publish over HTTP: 201 with the CLI --json shape, audited as the token',
  async (t, { site }) => {
    const app = createApp(site);
    const token = await tokenOf(site, 'publish', 'pipeline');
    const form = uploadForm(fileManifest('tool.bin'), 'payload one');
    const res = await post(app, form, bearer(token));
    t.is(res.status, 201);
    t.deepEqual(Object.keys(res.body).sort(), [
      'catalogVersion',
      'revision',
      'sha1',
      'sha256',
      'size',
      'updateId',
    ]);
    t.like(res.body, { revision: 1, size: 11, sha256: sha256('payload one') });
    t.is(res.body['catalogVersion'], await site.catalog.catalogVersion());
    const audit = (await site.db('audit_log').where({ action: 'publish' })) as Array<{
      actor: string;
      target: string;
    }>;
    t.deepEqual(
      audit.map((a) => [a.actor, a.target]),
      [['token:pipeline', `${String(res.body['updateId'])}/1`]],
    );
    // The payload is served by its digest.
    const content = await request(app).get(`/content/${sha256('payload one')}`);
    t.is(content.status, 200);
    // The same bytes and manifest again, without a key: already published, 200, same revision.
    const again = await post(app, form, bearer(token));
    t.is(again.status, 200);
    t.like(again.body, { updateId: res.body['updateId'], revision: 1 });
  },
);

dbTest(
  '401 without a token or with a wrong one, 403 with an approve token',
  async (t, { site }) => {
    const app = createApp(site);
    const form = uploadForm(fileManifest('tool.bin'), 'x');
    const before = await snapshot(site);
    const none = await post(app, form, {});
    t.is(none.status, 401);
    t.is(none.body.error?.code, 'unauthorized');
    const wrong = await post(
      app,
      form,
      bearer(
        'upcat_00000000-0000-4000-8000-000000000000.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
      ),
    );
    t.is(wrong.status, 401);
    const approve = await post(app, form, bearer(await tokenOf(site, 'approve')));
    t.is(approve.status, 403);
    t.is(approve.body.error?.code, 'forbidden');
    const after = await snapshot(site);
    t.deepEqual({ ...after, audit_log: 0 }, { ...before, audit_log: 0 });
  },
);

dbTest(
  '413 for an over-limit upload, declared or streamed, with nothing stored',
  async (t, { site }) => {
    const app = createApp(site);
    const token = await tokenOf(site, 'publish');
    site.config.limits.maxPayloadBytes = 1000;
    const before = await snapshot(site);
    const declared = await post(
      app,
      uploadForm(fileManifest('tool.bin'), Buffer.alloc(70_000, 1)),
      bearer(token),
    );
    t.is(declared.status, 413);
    t.is(declared.body.error?.code, 'too_large');
    // Under the declared cap (which leaves room for the form), over the payload limit: caught while streaming.
    const streamed = await post(
      app,
      uploadForm(fileManifest('tool.bin'), Buffer.alloc(5000, 2)),
      bearer(token),
    );
    t.is(streamed.status, 413);
    t.regex(streamed.body.error?.message ?? '', /payload is larger than the limit of 1000 bytes/);
    // Chunked, so no length is declared: the running count refuses it.
    const server = await listen(app);
    try {
      const form = uploadForm(fileManifest('tool.bin'), Buffer.alloc(200_000, 3));
      const res = await fetch(`${server.url}/v1/updates`, {
        method: 'POST',
        headers: { 'content-type': form.contentType, ...bearer(token) },
        body: new Blob([new Uint8Array(form.body)]).stream(),
        duplex: 'half',
      } as RequestInit);
      t.is(res.status, 413);
    } finally {
      await server.close();
    }
    t.true(
      await eventually(async () => JSON.stringify(await snapshot(site)) === JSON.stringify(before)),
    );
  },
);

dbTest(
  'a malformed manifest is a 400 that names the field; bad forms are 400s',
  async (t, { site }) => {
    const app = createApp(site);
    const token = await tokenOf(site, 'publish');
    const before = await snapshot(site);
    const noTitle = { ...fileManifest('tool.bin') };
    delete noTitle['title'];
    const missing = await post(app, uploadForm(noTitle, 'x'), bearer(token));
    t.is(missing.status, 400);
    t.is(missing.body.error?.code, 'invalid_input');
    t.regex(missing.body.error?.message ?? '', /title/);
    const unknown = await post(
      app,
      uploadForm(fileManifest('tool.bin', { colour: 'red' }), 'x'),
      bearer(token),
    );
    t.is(unknown.status, 400);
    t.regex(unknown.body.error?.message ?? '', /colour/);
    const notJson = await post(app, uploadForm('{"title": ', 'x'), bearer(token));
    t.is(notJson.status, 400);
    t.regex(notJson.body.error?.message ?? '', /manifest: not valid JSON/);
    // Payload before the manifest.
    const swapped = uploadForm(fileManifest('tool.bin'), 'x');
    const text = swapped.body
      .toString('latin1')
      .replace('name="manifest"', 'name="payload"; filename="a.bin"');
    const order = await post(
      app,
      { contentType: swapped.contentType, body: Buffer.from(text, 'latin1') },
      bearer(token),
    );
    t.is(order.status, 400);
    t.regex(order.body.error?.message ?? '', /"manifest" part/);
    // Not multipart at all.
    const raw = await post(
      app,
      { contentType: 'application/octet-stream', body: Buffer.from('x') },
      bearer(token),
    );
    t.is(raw.status, 400);
    t.regex(raw.body.error?.message ?? '', /multipart\/form-data/);
    // A path for a file name.
    const climbing = await post(
      app,
      uploadForm(fileManifest('tool.bin'), 'x', '../tool.bin'),
      bearer(token),
    );
    t.is(climbing.status, 400);
    t.deepEqual(await snapshot(site), before);
  },
);

dbTest(
  'Idempotency-Key: a retry gets the first answer; another body with the key is refused',
  async (t, { site }) => {
    const app = createApp(site);
    const token = await tokenOf(site, 'publish');
    const form = uploadForm(fileManifest('tool.bin'), 'first build');
    const key = { ...bearer(token), 'Idempotency-Key': 'build-42' };
    const first = await post(app, form, key);
    t.is(first.status, 201);
    // Something else moves the catalog on; the retry still answers what the first request did.
    const other = await post(
      app,
      uploadForm(fileManifest('other.bin', { product: 'Other' }), 'other', 'other.bin'),
      bearer(token),
    );
    t.is(other.status, 201);
    const versions = await snapshot(site);
    const retry = await post(app, form, key);
    t.is(retry.status, 201);
    t.deepEqual(retry.body, first.body);
    t.deepEqual(await snapshot(site), versions);

    const otherBytes = await post(app, uploadForm(fileManifest('tool.bin'), 'second build'), key);
    t.is(otherBytes.status, 422);
    t.is(otherBytes.body.error?.code, 'idempotency_mismatch');
    const otherManifest = await post(
      app,
      uploadForm(fileManifest('tool.bin', { title: 'T2' }), 'first build'),
      key,
    );
    t.is(otherManifest.status, 422);
    t.deepEqual(await snapshot(site), versions);
    // Keys are per token: another pipeline's same key is its own.
    const second = await post(
      app,
      uploadForm(fileManifest('b.bin', { product: 'B' }), 'b', 'b.bin'),
      {
        ...bearer(await tokenOf(site, 'publish')),
        'Idempotency-Key': 'build-42',
      },
    );
    t.is(second.status, 201);
    const bad = await post(app, form, { ...bearer(token), 'Idempotency-Key': 'has space' });
    t.is(bad.status, 400);
  },
);

dbTest(
  'a dropped connection mid-upload leaves nothing; the same key works afterwards',
  async (t, { site }) => {
    const app = createApp(site);
    const token = await tokenOf(site, 'publish');
    const server = await listen(app);
    try {
      const before = await snapshot(site);
      const form = uploadForm(fileManifest('tool.bin'), Buffer.alloc(3 * 1024 * 1024, 7));
      const socket = await partialUpload(
        server.port,
        token,
        form,
        form.head.length + 1024 * 1024,
        'k-1',
      );
      // Give the server time to stage part of the payload, then cut the connection.
      t.true(
        await eventually(async () =>
          ((await snapshot(site))['poolFiles'] as string[]).some((f) => f.startsWith('tmp/')),
        ),
      );
      socket.destroy();
      t.true(
        await eventually(
          async () => JSON.stringify(await snapshot(site)) === JSON.stringify(before),
        ),
      );
      const retry = await post(app, form, { ...bearer(token), 'Idempotency-Key': 'k-1' });
      t.is(retry.status, 201);
    } finally {
      await server.close();
    }
  },
);

dbTest(
  'the same key while the first request runs: 409 in_progress, one publish',
  async (t, { site }) => {
    const app = createApp(site);
    const token = await tokenOf(site, 'publish');
    const server = await listen(app);
    try {
      const form = uploadForm(fileManifest('tool.bin'), Buffer.alloc(256 * 1024, 9));
      const socket = await partialUpload(server.port, token, form, form.head.length + 1000, 'same');
      const answer = new Promise<string>((resolve) => {
        let text = '';
        socket.on('data', (d: Buffer) => (text += d.toString()));
        socket.on('end', () => resolve(text));
        socket.on('close', () => resolve(text));
      });
      t.true(
        await eventually(
          async () => (await site.db('idempotency_keys').where({ key: 'same' })).length === 1,
        ),
      );
      const busy = await post(app, form, { ...bearer(token), 'Idempotency-Key': 'same' });
      t.is(busy.status, 409);
      t.is(busy.body.error?.code, 'in_progress');
      socket.write(form.body.subarray(form.head.length + 1000));
      t.regex(await answer, /^HTTP\/1\.1 201/);
      const replay = await post(app, form, { ...bearer(token), 'Idempotency-Key': 'same' });
      t.is(replay.status, 201);
      t.is((await site.db('revisions')).length, 1);
    } finally {
      await server.close();
    }
  },
);
