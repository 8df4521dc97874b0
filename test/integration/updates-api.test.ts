import { createHash } from 'node:crypto';
import net from 'node:net';
import type { Express } from 'express';
import request from 'supertest';
import test from 'ava';
import { createApp } from '../../src/server/app.js';
import { openApiDocument } from '../../src/server/openapi/index.js';
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
    const swappedText = swapped.body
      .toString('latin1')
      .replace('name="manifest"', 'name="payload"; filename="a.bin"');
    const order = await post(
      app,
      { contentType: swapped.contentType, body: Buffer.from(swappedText, 'latin1') },
      bearer(token),
    );
    t.is(order.status, 400);
    t.regex(order.body.error?.message ?? '', /"manifest" part/);
    // Neither multipart nor the raw form.
    const text = await post(
      app,
      { contentType: 'text/plain', body: Buffer.from('x') },
      bearer(token),
    );
    t.is(text.status, 400);
    t.regex(text.body.error?.message ?? '', /multipart\/form-data .* or application\/octet-stream/);
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

/** The raw form: the body is the payload, the manifest rides in a header, the name in the query. */
async function postRaw(
  app: Express,
  manifest: unknown,
  payload: string | Buffer,
  headers: Record<string, string>,
  query = '?fileName=tool.bin',
): Promise<Answer> {
  const req = request(app)
    .post(`/v1/updates${query}`)
    .set('Content-Type', 'application/octet-stream');
  if (manifest !== undefined) {
    const json = typeof manifest === 'string' ? manifest : JSON.stringify(manifest);
    req.set('Upcat-Manifest', Buffer.from(json).toString('base64'));
  }
  for (const [k, v] of Object.entries(headers)) req.set(k, v);
  const res = await req.send(Buffer.from(payload));
  return { status: res.status, body: res.body as Answer['body'] };
}

dbTest(
  'the raw form (octet-stream body, Upcat-Manifest header, fileName) publishes like the form',
  async (t, { site }) => {
    const app = createApp(site);
    const token = await tokenOf(site, 'publish');
    const manifest = fileManifest('tool.bin', { title: 'Tool \u00e9t\u00e9' });
    const key = { ...bearer(token), 'Idempotency-Key': 'raw-1' };
    const res = await postRaw(app, manifest, 'raw payload', key);
    t.is(res.status, 201);
    t.like(res.body, { revision: 1, size: 11, sha256: sha256('raw payload') });
    const revision = (await site.db('revisions').first()) as { title: string };
    t.is(revision.title, 'Tool \u00e9t\u00e9');
    // A retry with the key replays; the same upload as a multipart form is the same revision.
    const retry = await postRaw(app, manifest, 'raw payload', key);
    t.is(retry.status, 201);
    t.deepEqual(retry.body, res.body);
    const form = await post(app, uploadForm(manifest, 'raw payload'), bearer(token));
    t.is(form.status, 200);
    t.like(form.body, { updateId: res.body['updateId'], revision: 1 });
    const mismatch = await postRaw(app, manifest, 'other payload', key);
    t.is(mismatch.status, 422);
    t.is(mismatch.body.error?.code, 'idempotency_mismatch');
  },
);

dbTest(
  'the raw form refuses a missing or bad manifest header and a bad fileName, storing nothing',
  async (t, { site }) => {
    const app = createApp(site);
    const auth = bearer(await tokenOf(site, 'publish'));
    const before = await snapshot(site);
    const cases: Array<[string, Answer, number, RegExp]> = [
      ['no header', await postRaw(app, undefined, 'x', auth), 400, /^Upcat-Manifest: required/],
      [
        'not base64',
        await postRaw(app, undefined, 'x', { ...auth, 'Upcat-Manifest': '{"title":1}' }),
        400,
        /^Upcat-Manifest: not base64/,
      ],
      ['not JSON', await postRaw(app, '{"title": ', 'x', auth), 400, /^manifest: not valid JSON/],
      [
        'bad manifest',
        await postRaw(app, fileManifest('tool.bin', { colour: 'red' }), 'x', auth),
        400,
        /colour/,
      ],
      ['no fileName', await postRaw(app, fileManifest('tool.bin'), 'x', auth, ''), 400, /fileName/],
      [
        'two fileNames',
        await postRaw(app, fileManifest('tool.bin'), 'x', auth, '?fileName=a&fileName=b'),
        400,
        /fileName: one query parameter/,
      ],
      [
        'a path',
        await postRaw(app, fileManifest('tool.bin'), 'x', auth, '?fileName=..%2Ftool.bin'),
        400,
        /fileName/,
      ],
      ['empty payload', await postRaw(app, fileManifest('tool.bin'), '', auth), 400, /is empty/],
    ];
    for (const [what, res, status, message] of cases) {
      t.is(res.status, status, what);
      t.is(res.body.error?.code, 'invalid_input', what);
      t.regex(res.body.error?.message ?? '', message, what);
    }
    site.config.limits.maxPayloadBytes = 1000;
    const big = await postRaw(app, fileManifest('tool.bin'), Buffer.alloc(5000, 1), auth);
    t.is(big.status, 413);
    t.regex(big.body.error?.message ?? '', /payload is larger than the limit of 1000 bytes/);
    t.true(
      await eventually(async () => JSON.stringify(await snapshot(site)) === JSON.stringify(before)),
    );
  },
);

/**
 * Sends a request head, then `total` body bytes as fast as the connection takes them, until the
 * server closes it. Answers what the server said and how many body bytes the socket accepted.
 */
async function pushBody(
  port: number,
  head: string[],
  total: number,
): Promise<{ answer: string; accepted: number; closed: boolean }> {
  const socket = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  let answer = '';
  let closed = false;
  socket.on('data', (d: Buffer) => (answer += d.toString('latin1')));
  socket.on('error', () => undefined);
  const gone = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  void gone.then(() => (closed = true));
  socket.write(`${head.join('\r\n')}\r\n\r\n`);
  const chunk = Buffer.alloc(1024 * 1024, 5);
  let accepted = 0;
  while (accepted < total && !closed) {
    const ok = socket.write(chunk);
    accepted += chunk.length;
    if (!ok) {
      await Promise.race([new Promise((resolve) => socket.once('drain', resolve)), gone]);
    }
  }
  // A server that read it all keeps the connection: `closed` stays false.
  await Promise.race([gone, new Promise((resolve) => setTimeout(resolve, 2000))]);
  socket.destroy();
  return { answer, accepted, closed };
}

dbTest(
  'a refused large body is not read: the answer closes the connection at once',
  async (t, { site }) => {
    const app = createApp(site);
    const token = await tokenOf(site, 'publish');
    site.config.limits.maxPayloadBytes = 1024 * 1024;
    const server = await listen(app);
    const total = 256 * 1024 * 1024;
    const head = (extra: string[]): string[] => [
      'POST /v1/updates?fileName=tool.bin HTTP/1.1',
      'Host: 127.0.0.1',
      'Content-Type: application/octet-stream',
      `Upcat-Manifest: ${Buffer.from(JSON.stringify(fileManifest('tool.bin'))).toString('base64')}`,
      ...extra,
    ];
    try {
      const before = await snapshot(site);
      const cases: Array<[string, string[], RegExp]> = [
        [
          'declared too large',
          [`Authorization: Bearer ${token}`, `Content-Length: ${total}`],
          /^HTTP\/1\.1 413/,
        ],
        ['no token', [`Content-Length: ${total}`], /^HTTP\/1\.1 401/],
        [
          'streamed past the limit',
          [`Authorization: Bearer ${token}`, 'Transfer-Encoding: chunked'],
          /^HTTP\/1\.1 413/,
        ],
      ];
      for (const [what, extra, status] of cases) {
        // A chunked body needs its framing; its bytes are then one endless chunk.
        const chunked = extra.includes('Transfer-Encoding: chunked');
        const res = await pushBody(
          server.port,
          chunked ? [...head(extra), '', total.toString(16)] : head(extra),
          total,
        );
        t.regex(res.answer, status, what);
        t.regex(res.answer, /\r\nConnection: close\r\n/i, what);
        t.true(res.closed, `${what}: connection closed`);
        // The kernel's socket buffers take a few MiB; reading it all would take all 256.
        t.true(res.accepted < 64 * 1024 * 1024, `${what}: ${res.accepted} bytes accepted`);
      }
      t.true(
        await eventually(
          async () => JSON.stringify(await snapshot(site)) === JSON.stringify(before),
        ),
      );
    } finally {
      await server.close();
    }
  },
);

dbTest(
  'a refused small body is still read, so the connection is kept for the next request',
  async (t, { site }) => {
    const app = createApp(site);
    const server = await listen(app);
    try {
      const socket = net.connect(server.port, '127.0.0.1');
      await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
      let text = '';
      socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
      const body = Buffer.alloc(10_000, 1);
      const req = [
        'POST /v1/updates?fileName=tool.bin HTTP/1.1',
        'Host: 127.0.0.1',
        'Content-Type: application/octet-stream',
        `Content-Length: ${body.length}`,
        '',
        '',
      ].join('\r\n');
      socket.write(req);
      socket.write(body);
      t.true(await eventually(async () => Promise.resolve(/\r\n\r\n\{.*\}$/s.test(text))));
      t.regex(text, /^HTTP\/1\.1 401/);
      t.notRegex(text, /Connection: close/i);
      text = '';
      socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
      t.true(await eventually(async () => Promise.resolve(/^HTTP\/1\.1 200/.test(text))));
      socket.destroy();
    } finally {
      await server.close();
    }
  },
);

test('the OpenAPI entry of POST /v1/updates lists both body forms and every status it answers', (t) => {
  const publish = openApiDocument().paths?.['/v1/updates']?.post as
    | {
        responses?: Record<string, unknown>;
        requestBody?: { content?: Record<string, unknown> };
        parameters?: Array<{ in: string; name: string }>;
      }
    | undefined;
  t.deepEqual(Object.keys(publish?.responses ?? {}).sort(), [
    '200',
    '201',
    '400',
    '401',
    '403',
    '409',
    '413',
    '422',
    '500',
  ]);
  t.deepEqual(Object.keys(publish?.requestBody?.content ?? {}).sort(), [
    'application/octet-stream',
    'multipart/form-data',
  ]);
  t.deepEqual(publish?.parameters?.map((p) => `${p.in} ${p.name}`).sort(), [
    'header Idempotency-Key',
    'header Upcat-Manifest',
    'query fileName',
  ]);
});

dbTest('the raw form: a dropped connection mid-upload leaves nothing', async (t, { site }) => {
  const app = createApp(site);
  const token = await tokenOf(site, 'publish');
  const server = await listen(app);
  try {
    const before = await snapshot(site);
    const socket = net.connect(server.port, '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.on('error', () => undefined);
    const manifest = Buffer.from(JSON.stringify(fileManifest('tool.bin'))).toString('base64');
    socket.write(
      [
        'POST /v1/updates?fileName=tool.bin HTTP/1.1',
        'Host: 127.0.0.1',
        `Authorization: Bearer ${token}`,
        'Content-Type: application/octet-stream',
        `Upcat-Manifest: ${manifest}`,
        `Content-Length: ${8 * 1024 * 1024}`,
        '',
        '',
      ].join('\r\n'),
    );
    socket.write(Buffer.alloc(3 * 1024 * 1024, 7));
    t.true(
      await eventually(async () =>
        ((await snapshot(site))['poolFiles'] as string[]).some((f) => f.startsWith('tmp/')),
      ),
    );
    socket.destroy();
    t.true(
      await eventually(async () => JSON.stringify(await snapshot(site)) === JSON.stringify(before)),
    );
  } finally {
    await server.close();
  }
});
