import request from 'supertest';
import { openSite } from '../../src/app.js';
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
  'reports: per revision installed, already installed, failed, pending, not applicable; history; stale clients',
  async (t, { site }) => {
    site.config.site.approval = 'auto-all';
    const app = createApp(site);
    const cs = await Promise.all(
      [0, 1, 2, 3, 4, 5].map(
        async (i) => (await register(app, registration({ hardwareId: `hw-${i}` }))).body,
      ),
    );
    const a = await publishBytes(site, 'a1', fileManifest('a.bin'), 'a.bin');
    await site.deployments.approve(
      { updateId: a.updateId, group: 'All Computers', action: 'install' },
      'test',
    );
    const states = ['installed', 'already_installed', 'failed', 'not_applicable', 'downloading'];
    for (const [i, state] of states.entries())
      await report(app, cs[i]?.secret, [{ updateId: a.updateId, state }]);
    const [report0] = await site.reports.revisions();
    t.deepEqual(report0, {
      updateId: a.updateId,
      revision: 1,
      group: 'All Computers',
      title: 'Contoso Tool 1.0',
      status: 'active',
      installed: 1,
      alreadyInstalled: 1,
      uninstalled: 0,
      failed: 1,
      notApplicable: 1,
      pending: 2, // the one downloading and the one silent
    });
    const auth = await bearer(site, 'approve');
    const http = await request(app)
      .get('/v1/reports/revisions')
      .set('Authorization', auth)
      .expect(200);
    t.deepEqual(http.body.revisions, [report0]);
    const history = await request(app)
      .get(`/v1/reports/clients/${cs[0]?.clientId ?? ''}/history`)
      .set('Authorization', auth)
      .expect(200);
    t.is(history.body.history[0].state, 'installed');
    await site
      .db('clients')
      .where({ client_id: cs[5]?.clientId ?? '' })
      .update({ last_contact: '2020-01-01T00:00:00.000Z' });
    const stale = await request(app)
      .get('/v1/reports/stale?days=30')
      .set('Authorization', auth)
      .expect(200);
    t.deepEqual(
      stale.body.clients.map((c: { clientId: string }) => c.clientId),
      [cs[5]?.clientId],
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
    t.is(list.body.clients.length, 6);
  },
);

dbTest(
  'reports: a revision that left the policy (superseded, expired) has no pending clients',
  async (t, { site }) => {
    site.config.site.approval = 'auto-all';
    const app = createApp(site);
    const cs = await Promise.all(
      [0, 1, 2].map(
        async (i) => (await register(app, registration({ hardwareId: `hw-${i}` }))).body,
      ),
    );
    const deploy = (updateId: string, action = 'install'): Promise<unknown> =>
      site.deployments.approve({ updateId, group: 'All Computers', action }, 'test');
    const a1 = await publishBytes(site, 'a1', fileManifest('a.bin'), 'a.bin');
    const b = await publishBytes(
      site,
      'b1',
      fileManifest('b.bin', { title: 'B', product: 'B' }),
      'b.bin',
    );
    await deploy(a1.updateId);
    await deploy(b.updateId, 'uninstall');
    await report(app, cs[0]?.secret, [
      { updateId: a1.updateId, state: 'installed' },
      { updateId: b.updateId, state: 'uninstalled' },
    ]);
    const row = async (updateId: string): Promise<Record<string, unknown> | undefined> =>
      (await site.reports.revisions()).find((r) => r.updateId === updateId) as
        Record<string, unknown> | undefined;
    t.like(await row(a1.updateId), { status: 'active', installed: 1, pending: 2 });
    t.like(await row(b.updateId), { status: 'active', uninstalled: 1, installed: 0, pending: 2 });

    // a2 supersedes a1: no client is asked for a1 any more, so none of them is pending on it.
    const a2 = await publishBytes(
      site,
      'a2',
      fileManifest('a.bin', { title: 'A2', version: '2.0', supersedes: [a1.updateId] }),
      'a.bin',
    );
    await deploy(a2.updateId);
    t.like(await row(a1.updateId), { status: 'superseded', installed: 1, pending: 0 });
    t.like(await row(a2.updateId), { status: 'active', installed: 0, pending: 3 });

    await site.expire.expire(a2.updateId, 'test');
    t.like(await row(a2.updateId), { status: 'expired', pending: 0 });
    // The policy agrees: only the uninstall of b is left for a client.
    const sync = await request(app)
      .get('/v1/sync')
      .set('Authorization', `Bearer ${cs[1]?.secret ?? ''}`)
      .expect(200);
    t.deepEqual(
      (sync.body.policy.signed.deployments as Array<{ updateId: string }>).map((d) => d.updateId),
      [b.updateId],
    );
  },
);

async function report(
  app: ReturnType<typeof createApp>,
  secret: string | undefined,
  messages: Array<{ updateId: string; state: string }>,
): Promise<void> {
  await request(app)
    .post('/v1/status')
    .set('Authorization', `Bearer ${secret ?? ''}`)
    .send({
      messages: messages.map((m, i) => ({
        id: `s-${m.state}-${i}-${m.updateId.slice(0, 8)}`,
        topic: 'update',
        revision: 1,
        ...m,
      })),
    })
    .expect(202);
}

dbTest(
  'status messages are stored while another process writes to the site (SQLite: no stale snapshot)',
  async (t, { site, home, env }) => {
    site.config.site.approval = 'auto-all';
    const app = createApp(site);
    const c = (await register(app, registration({ hardwareId: 'hw-busy' }))).body;
    // A second connection, as a CLI command or another server would hold: it writes in a
    // transaction that commits while the status messages are being stored.
    const other = await openSite({ home, env, logLevel: 'silent' });
    try {
      let committed!: () => void;
      const held = new Promise<void>((resolve) => (committed = resolve));
      const writer = other.db.transaction(async (trx) => {
        await trx('catalog_state')
          .where({ id: 1 })
          .update({ version: trx.raw('version') });
        await held;
      });
      // Give the writer its lock before the messages arrive, then let it commit while they wait.
      await new Promise((r) => setTimeout(r, 100));
      const storing = site.status.fromClient(c.clientId, { messages: [msg('m-busy')] });
      setTimeout(committed, 200);
      await writer;
      t.deepEqual(await storing, { received: 1, stored: 1 });
    } finally {
      await other.close();
    }
  },
);
