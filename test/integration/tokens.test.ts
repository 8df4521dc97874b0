import { createHash } from 'node:crypto';
import request from 'supertest';
import { createApp } from '../../src/server/app.js';
import { createEnrollmentToken } from '../../src/site/enrollment.js';
import { fileManifest, publishBytes } from '../helpers/publish.js';
import { dbTest } from '../helpers/site.js';
import { uploadForm } from '../helpers/upload.js';

dbTest('tokens: create, list (never the secret), revoke by name', async (t, { site }) => {
  const a = await site.tokens.create(
    { name: 'pipeline', scope: 'publish', expiresIn: '90d' },
    'test',
  );
  t.regex(a.token, /^upcat_[0-9a-f-]{36}\.[A-Za-z0-9_-]{43}$/);
  t.true(a.token.includes(a.id));
  t.like(a, { name: 'pipeline', scope: 'publish' });
  const days = (Date.parse(a.expiresAt ?? '') - Date.now()) / 86_400_000;
  t.true(days > 89.9 && days <= 90, String(days));
  const b = await site.tokens.create({ scope: 'admin' }, 'test');
  t.is(b.name, `token-${b.id.slice(0, 8)}`);
  t.is(b.expiresAt, null);

  const list = await site.tokens.list();
  t.deepEqual(
    list.map((x) => [x.name, x.scope, x.state]),
    [
      ['pipeline', 'publish', 'active'],
      [b.name, 'admin', 'active'],
    ],
  );
  const shown = JSON.stringify(list);
  t.false(shown.includes(a.token.split('.')[1] ?? '-'));
  t.false(shown.includes('token_hash'));

  const dup = await t.throwsAsync(site.tokens.create({ name: 'pipeline', scope: 'admin' }, 'test'));
  t.is((dup as { code?: string }).code, 'conflict');

  const revoked = await site.tokens.revoke('pipeline', 'test');
  t.is(revoked.id, a.id);
  t.is(revoked.state, 'revoked');
  // A revoked name is free again; revoking by id still finds the old one.
  await site.tokens.create({ name: 'pipeline', scope: 'publish' }, 'test');
  t.is((await site.tokens.revoke(a.id, 'test')).id, a.id);
  const missing = await t.throwsAsync(site.tokens.revoke('nope', 'test'));
  t.is((missing as { code?: string }).code, 'not_found');
});

dbTest('tokens: stored as a SHA-256 hash, never as the token', async (t, { site }) => {
  const a = await site.tokens.create({ name: 'ci', scope: 'approve' }, 'test');
  const rows = (await site.db('tokens').select()) as Array<Record<string, unknown>>;
  t.is(rows.length, 1);
  const text = JSON.stringify(rows);
  t.false(text.includes(a.token));
  t.false(text.includes(a.token.split('.')[1] ?? '-'));
  t.is(rows[0]?.['token_hash'], createHash('sha256').update(a.token).digest('hex'));
});

dbTest('tokens: bad input is refused with the field named', async (t, { site }) => {
  for (const [input, field] of [
    [{ scope: 'root' }, /scope/],
    [{ scope: 'admin', expiresIn: 'soon' }, /expires/],
    [{ scope: 'admin', expiresIn: '0d' }, /expires/],
    [{ scope: 'admin', name: 'a\nb' }, /name/],
  ] as const) {
    const err = await t.throwsAsync(site.tokens.create(input, 'test'));
    t.is((err as { code?: string }).code, 'invalid_input');
    t.regex(err?.message ?? '', field);
  }
});

dbTest(
  'tokens: scopes on the admin API (401 without or with a dead token, 403 for the wrong scope)',
  async (t, { site }) => {
    const app = createApp(site);
    const a = await publishBytes(site, 'a1', fileManifest('a.bin'), 'a.bin');
    const token = async (scope: 'publish' | 'approve' | 'admin'): Promise<string> =>
      `Bearer ${(await site.tokens.create({ name: `t-${scope}`, scope }, 'test')).token}`;
    const publish = await token('publish');
    const approve = await token('approve');
    const admin = await token('admin');
    const get = (path: string, auth?: string) => {
      const r = request(app).get(path);
      return auth === undefined ? r : r.set('Authorization', auth);
    };

    const none = await get('/v1/reports/revisions');
    t.is(none.status, 401);
    t.is(none.body.error.code, 'unauthorized');
    t.is((await get('/v1/reports/revisions', 'Bearer upcat_nonsense')).status, 401);
    t.is((await get('/v1/reports/revisions', 'Basic abc')).status, 401);

    // Reports are reads: every scope reads them (issue 14); deploying needs approve.
    t.is((await get('/v1/reports/revisions', publish)).status, 200);
    const wrong = await request(app).post('/v1/deployments').set('Authorization', publish).send({});
    t.is(wrong.status, 403);
    t.is(wrong.body.error.code, 'forbidden');
    t.regex(wrong.body.error.message, /scope publish; this route needs approve/);
    t.is((await get('/v1/reports/revisions', approve)).status, 200);
    t.is((await get('/v1/reports/revisions', admin)).status, 200);
    t.is((await get('/v1/audit', approve)).status, 403);
    t.is((await get('/v1/audit', admin)).status, 200);

    // approve does not imply publish; admin implies both.
    const expire = (auth: string) =>
      request(app).post(`/v1/updates/${a.updateId}/expire`).set('Authorization', auth);
    t.is((await expire(approve)).status, 403);
    // Operators (approve) block clients; a publisher may not.
    t.is(
      (await request(app).post(`/v1/clients/x/block`).set('Authorization', publish)).status,
      403,
    );
    t.is((await expire(publish)).status, 200);
    t.is((await expire(admin)).status, 200);

    // A token with its secret part changed is refused, though its id is real.
    const real = publish.slice('Bearer '.length);
    const forged = `${real.slice(0, -4)}${real.endsWith('AAAA') ? 'BBBB' : 'AAAA'}`;
    t.is((await get('/v1/reports/revisions', `Bearer ${forged}`)).status, 401);

    await site.tokens.revoke('t-approve', 'test');
    const revoked = await get('/v1/reports/revisions', approve);
    t.is(revoked.status, 401);
    t.is(revoked.body.error.code, 'unauthorized');

    await site
      .db('tokens')
      .where({ name: 't-admin' })
      .update({ expires_at: '2020-01-01T00:00:00.000Z' });
    t.is((await get('/v1/audit', admin)).status, 401);
    t.is((await site.tokens.list()).find((x) => x.name === 't-admin')?.state, 'expired');
  },
);

dbTest('tokens: registration (enroll) tokens are not API tokens', async (t, { site }) => {
  const { token } = await createEnrollmentToken(site.db, { name: 'e', actor: 'test' });
  const err = await t.throwsAsync(site.tokens.authenticate(token));
  t.is((err as { code?: string }).code, 'unauthorized');
  // Even shaped like an API token with the enroll row's id, its hash does not match.
  const row = (await site.db('tokens').first('id')) as { id: string };
  const shaped = `upcat_${row.id}.${'A'.repeat(43)}`;
  t.is(
    ((await t.throwsAsync(site.tokens.authenticate(shaped))) as { code?: string }).code,
    'unauthorized',
  );
});

dbTest(
  'tokens: last use is recorded behind the request, at most once a minute',
  async (t, { site }) => {
    const a = await site.tokens.create({ name: 'ci', scope: 'approve' }, 'test');
    t.is((await site.tokens.list())[0]?.lastUsedAt, null);
    let updates = 0;
    site.db.on('query', (q: { sql: string }) => {
      if (/update .*tokens/i.test(q.sql)) updates += 1;
    });
    for (let i = 0; i < 20; i += 1) await site.tokens.authenticate(a.token);
    t.is(updates, 0, 'no write per request');
    await site.tokens.flush();
    t.is(updates, 1);
    const row = (await site.db('tokens').where({ id: a.id }).first('last_used_at')) as {
      last_used_at: string | null;
    };
    t.truthy(row.last_used_at);
    t.true(Date.now() - Date.parse(row.last_used_at ?? '') < 60_000);
  },
);

dbTest(
  'tokens: an enroll token makes a registration trusted and never opens the API',
  async (t, { site }) => {
    site.config.site.approval = 'auto-trusted';
    const app = createApp(site);
    const enroll = await site.tokens.create({ name: 'imaging', scope: 'enroll' }, 'test');
    t.is(enroll.scope, 'enroll');
    const body = {
      hardwareId: 'hw-enroll-1',
      name: 'pc-enroll-1',
      os: 'linux debian 12',
      architecture: 'x64',
      clientVersion: '1.0.0',
    };
    const plain = await request(app).post('/v1/clients').send(body);
    t.is(plain.body.status, 'pending', 'without the token a registration waits for approval');
    const trusted = await request(app)
      .post('/v1/clients')
      .send({ ...body, hardwareId: 'hw-enroll-2', enrollmentToken: enroll.token });
    t.is(trusted.status, 201);
    t.is(trusted.body.status, 'approved');
    const api = await request(app)
      .get('/v1/clients')
      .set('Authorization', `Bearer ${enroll.token}`);
    t.is(api.status, 401);
    await site.tokens.revoke('imaging', 'test');
    const revoked = await request(app)
      .post('/v1/clients')
      .send({ ...body, hardwareId: 'hw-enroll-3', enrollmentToken: enroll.token });
    t.is(revoked.status, 401);
  },
);

dbTest(
  'tokens: a name given again after a revoke is another token: in the audit log and for idempotency keys',
  async (t, { site }) => {
    const app = createApp(site);
    const publish = (token: string, bytes: string, product: string) => {
      const form = uploadForm(fileManifest('tool.bin', { product }), bytes);
      return request(app)
        .post('/v1/updates')
        .set('Authorization', `Bearer ${token}`)
        .set('Content-Type', form.contentType)
        .set('Idempotency-Key', 'release-1')
        .send(form.body);
    };
    const first = await site.tokens.create({ name: 'ci', scope: 'publish' }, 'test');
    const a = await publish(first.token, 'build a', 'Product A');
    t.is(a.status, 201);
    await site.tokens.revoke(first.id, 'test');
    const second = await site.tokens.create({ name: 'ci', scope: 'publish' }, 'test');
    t.not(second.id, first.id);

    // The same key from the new token is the new token's own: a new publish, not a replay of
    // (nor a mismatch with) the old token's request.
    const b = await publish(second.token, 'build b', 'Product B');
    t.is(b.status, 201, JSON.stringify(b.body));
    t.not(b.body.updateId, a.body.updateId);
    // Still idempotent for the token itself.
    const again = await publish(second.token, 'build b', 'Product B');
    t.is(again.status, 201);
    t.deepEqual(again.body, b.body);
    t.is((await site.db('revisions')).length, 2);

    const rows = (await site
      .db('audit_log')
      .where({ action: 'publish' })
      .orderBy('id')
      .select('actor', 'token_id', 'target')) as Array<{
      actor: string;
      token_id: string | null;
      target: string;
    }>;
    t.deepEqual(rows, [
      { actor: 'token:ci', token_id: first.id, target: `${a.body.updateId}/1` },
      { actor: 'token:ci', token_id: second.id, target: `${b.body.updateId}/1` },
    ]);
  },
);

dbTest(
  'tokens: concurrent creates of one name leave exactly one live token',
  async (t, { site }) => {
    // Warm the pool so that the creates really run side by side (PostgreSQL opens connections
    // lazily; the first create would otherwise commit before the others had a connection).
    await Promise.all(
      Array.from({ length: 8 }, () =>
        site.db.transaction(() => new Promise((resolve) => setTimeout(resolve, 50))),
      ),
    );
    const tries = await Promise.allSettled(
      Array.from({ length: 8 }, () =>
        site.tokens.create({ name: 'race', scope: 'publish' }, 'test'),
      ),
    );
    const won = tries.filter((r) => r.status === 'fulfilled');
    const lost = tries.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    t.is(won.length, 1);
    for (const r of lost) t.is((r.reason as { code?: string }).code, 'conflict');
    const live = (await site.tokens.list()).filter(
      (x) => x.name === 'race' && x.state === 'active',
    );
    t.is(live.length, 1);
    // Revoking frees the name again.
    await site.tokens.revoke('race', 'test');
    await t.notThrowsAsync(site.tokens.create({ name: 'race', scope: 'publish' }, 'test'));
  },
);
