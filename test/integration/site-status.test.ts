import request from 'supertest';
import { createApp } from '../../src/server/app.js';
import { register, registration } from '../helpers/clients.js';
import { fileManifest, publishBytes } from '../helpers/publish.js';
import { dbTest } from '../helpers/site.js';
import { bearer } from '../helpers/tokens.js';

const msg = (id: string, over: Record<string, unknown> = {}): Record<string, unknown> => ({
  id,
  topic: 'client',
  state: 'cannot_reach_site',
  ...over,
});

dbTest('POST /v1/status stores each message once however often it is sent', async (t, { site }) => {
  site.config.site.approval = 'auto-all';
  const app = createApp(site);
  const c = (await register(app, registration())).body;
  const body = { messages: [msg('m-1'), msg('m-2')] };
  const first = await request(app)
    .post('/v1/status')
    .set('Authorization', `Bearer ${c.secret}`)
    .send(body)
    .expect(202);
  t.deepEqual(first.body, { received: 2, stored: 2 });
  const again = await request(app)
    .post('/v1/status')
    .set('Authorization', `Bearer ${c.secret}`)
    .send(body)
    .expect(202);
  t.deepEqual(again.body, { received: 2, stored: 0 });
  await Promise.all(
    Array.from({ length: 10 }, () =>
      request(app)
        .post('/v1/status')
        .set('Authorization', `Bearer ${c.secret}`)
        .send({ messages: [msg('m-3')] }),
    ),
  );
  t.is((await site.reports.clientHistory(c.clientId)).length, 3);
  await request(app).post('/v1/status').send(body).expect(401);
});

dbTest(
  'a blocked client is refused with 403 client_blocked on every client route',
  async (t, { site }) => {
    site.config.site.approval = 'auto-all';
    const app = createApp(site);
    const c = (await register(app, registration())).body;
    await site.clients.block(c.clientId, 'test');
    const auth = { Authorization: `Bearer ${c.secret}` };
    const answers = [
      await request(app).get('/v1/sync').set(auth),
      await request(app)
        .post('/v1/status')
        .set(auth)
        .send({ messages: [msg('x')] }),
      await request(app).post('/v1/clients').set(auth).send(registration()),
      await request(app).post('/v1/clients').send(registration()),
    ];
    for (const res of answers) {
      t.is(res.status, 403);
      t.is(res.body.error.code, 'client_blocked');
    }
    t.is((await site.clients.list()).length, 1);
    await site.clients.unblock(c.clientId, 'test');
    await request(app).get('/v1/sync').set(auth).expect(200);
  },
);

dbTest('status: bad bodies are 400 naming the field, never a 500', async (t, { site }) => {
  site.config.site.approval = 'auto-all';
  const app = createApp(site);
  const c = (await register(app, registration())).body;
  const cases: Array<[unknown, RegExp]> = [
    [{ messages: [] }, /messages/],
    [{ messages: [msg('bad id!')] }, /messages\[0\]\.id/],
    [{ messages: [msg('a', { state: 'exploded' })] }, /state/],
    [{ messages: [msg('a', { topic: 'update' })] }, /updateId/],
    [{ messages: [msg('a', { code: 1.5 })] }, /code/],
    [{ messages: [msg('a')], extra: true }, /extra/],
    [[1, 2], /./],
  ];
  for (const [body, field] of cases) {
    const res = await request(app)
      .post('/v1/status')
      .set('Authorization', `Bearer ${c.secret}`)
      .send(body as object);
    t.is(res.status, 400, JSON.stringify(body));
    t.is(res.body.error.code, 'invalid_input');
    t.regex(res.body.error.message, field);
  }
});

dbTest(
  'fallback status point: unauthenticated, deduplicated, size-limited, rate-limited per address',
  async (t, { site }) => {
    site.config.site.fallbackStatus = { maxBodyBytes: 2048, perMinute: 4 };
    const app = createApp(site);
    const body = {
      hardwareId: 'hw-new',
      name: 'pc-new',
      messages: [msg('f-1', { state: 'client_install_failed', code: 1603, detail: 'msi failed' })],
    };
    t.deepEqual((await request(app).post('/fsp/v1/status').send(body).expect(202)).body, {
      received: 1,
      stored: 1,
    });
    t.deepEqual((await request(app).post('/fsp/v1/status').send(body).expect(202)).body, {
      received: 1,
      stored: 0,
    });
    const big = await request(app)
      .post('/fsp/v1/status')
      .send({ ...body, messages: [msg('f-2', { detail: 'x'.repeat(2048) })] });
    t.is(big.status, 413);
    t.is(big.body.error.code, 'too_large');
    const bad = await request(app)
      .post('/fsp/v1/status')
      .send({ messages: [msg('f 3')] });
    t.is(bad.status, 400);
    const limited = await request(app).post('/fsp/v1/status').send(body);
    t.is(limited.status, 429);
    t.is(limited.body.error.code, 'rate_limited');
    t.truthy(limited.headers['retry-after']);
    const rows = (await site.db('state_messages')) as Array<{
      authenticated: boolean | number;
      client_id: string | null;
    }>;
    t.is(rows.length, 1);
    t.false(Boolean(rows[0]?.authenticated));
    t.is(rows[0]?.client_id, null);
    const failures = await site.reports.clientInstallFailures();
    t.like(failures[0], {
      hardwareId: 'hw-new',
      name: 'pc-new',
      code: 1603,
      detail: 'msi failed',
      failures: 1,
    });
  },
);

dbTest(
  'reports: per revision installed, failed, pending, not applicable; history; stale clients',
  async (t, { site }) => {
    site.config.site.approval = 'auto-all';
    const app = createApp(site);
    const cs = await Promise.all(
      [0, 1, 2, 3, 4].map(
        async (i) => (await register(app, registration({ hardwareId: `hw-${i}` }))).body,
      ),
    );
    const a = await publishBytes(site, 'a1', fileManifest('a.bin'), 'a.bin');
    await site.deployments.approve(
      { updateId: a.updateId, group: 'All Computers', action: 'install' },
      'test',
    );
    const states = ['installed', 'failed', 'not_applicable', 'downloading'];
    for (const [i, state] of states.entries()) {
      await request(app)
        .post('/v1/status')
        .set('Authorization', `Bearer ${cs[i]?.secret ?? ''}`)
        .send({
          messages: [{ id: `s-${i}`, topic: 'update', updateId: a.updateId, revision: 1, state }],
        })
        .expect(202);
    }
    const [report] = await site.reports.revisions();
    t.like(report, {
      updateId: a.updateId,
      revision: 1,
      installed: 1,
      failed: 1,
      notApplicable: 1,
      pending: 2,
    });
    const auth = await bearer(site, 'approve');
    const http = await request(app)
      .get('/v1/reports/revisions')
      .set('Authorization', auth)
      .expect(200);
    t.deepEqual(http.body.revisions, [report]);
    const history = await request(app)
      .get(`/v1/reports/clients/${cs[0]?.clientId ?? ''}/history`)
      .set('Authorization', auth)
      .expect(200);
    t.is(history.body.history[0].state, 'installed');
    await site
      .db('clients')
      .where({ client_id: cs[4]?.clientId ?? '' })
      .update({ last_contact: '2020-01-01T00:00:00.000Z' });
    const stale = await request(app)
      .get('/v1/reports/stale?days=30')
      .set('Authorization', auth)
      .expect(200);
    t.deepEqual(
      stale.body.clients.map((c: { clientId: string }) => c.clientId),
      [cs[4]?.clientId],
    );
    t.is(
      (await request(app).get('/v1/reports/stale?days=soon').set('Authorization', auth)).status,
      400,
    );
    t.is(
      (await request(app).get('/v1/reports/clients/nope/history').set('Authorization', auth))
        .status,
      404,
    );
    t.is((await request(app).get('/v1/reports/revisions')).status, 401);
    const list = await request(app).get('/v1/clients').set('Authorization', auth).expect(200);
    t.is(list.body.clients.length, 5);
  },
);
