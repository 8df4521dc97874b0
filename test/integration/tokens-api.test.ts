import request from 'supertest';
import { createApp } from '../../src/server/app.js';
import { dbTest } from '../helpers/site.js';
import { bearer } from '../helpers/tokens.js';

dbTest(
  'tokens API: create shows the secret once, list never does, revoke works',
  async (t, { site }) => {
    const app = createApp(site);
    const admin = await bearer(site, 'admin');
    const created = await request(app)
      .post('/v1/tokens')
      .set('Authorization', admin)
      .send({ name: 'pipeline', scope: 'publish', expiresIn: '30d' });
    t.is(created.status, 201, created.text);
    t.is(created.headers['cache-control'], 'no-store');
    t.like(created.body, { name: 'pipeline', scope: 'publish' });
    const secret = created.body.token as string;
    t.regex(secret, /^upcat_[0-9a-f-]{36}\.[A-Za-z0-9_-]{43}$/);
    t.truthy(created.body.expiresAt);

    // The new token works; the list shows it without its secret or hash.
    const use = await request(app)
      .get('/v1/reports/revisions')
      .set('Authorization', `Bearer ${secret}`);
    t.is(use.status, 200);
    const list = await request(app).get('/v1/tokens').set('Authorization', admin);
    t.is(list.status, 200);
    t.deepEqual(Object.keys(list.body).sort(), ['next', 'tokens']);
    const text = JSON.stringify(list.body);
    t.false(text.includes(secret.split('.')[1] ?? '-'), 'no secret in the list');
    t.false(/hash/i.test(text), 'no hash in the list');
    const mine = (list.body.tokens as Array<Record<string, unknown>>).find(
      (x) => x['name'] === 'pipeline',
    );
    t.like(mine, { id: created.body.id, scope: 'publish', state: 'active', revokedAt: null });
    t.deepEqual(Object.keys(mine ?? {}).sort(), [
      'createdAt',
      'expiresAt',
      'id',
      'lastUsedAt',
      'name',
      'revokedAt',
      'scope',
      'state',
    ]);

    const revoked = await request(app)
      .delete(`/v1/tokens/${created.body.id as string}`)
      .set('Authorization', admin);
    t.is(revoked.status, 200, revoked.text);
    t.like(revoked.body, { id: created.body.id, state: 'revoked' });
    const after = await request(app)
      .get('/v1/reports/revisions')
      .set('Authorization', `Bearer ${secret}`);
    t.is(after.status, 401);
    const actions = (await site.db('audit_log').orderBy('id')).map(
      (r: { action: string }) => r.action,
    );
    t.true(actions.includes('token.create') && actions.includes('token.revoke'));
  },
);

dbTest('tokens API: admin only; bad input and unknown ids are 4xx', async (t, { site }) => {
  const app = createApp(site);
  const admin = await bearer(site, 'admin');
  for (const scope of ['read', 'publish', 'approve'] as const) {
    const auth = await bearer(site, scope);
    t.is((await request(app).get('/v1/tokens').set('Authorization', auth)).status, 403, scope);
    const made = await request(app)
      .post('/v1/tokens')
      .set('Authorization', auth)
      .send({ scope: 'admin' });
    t.is(made.status, 403, scope);
    t.is((await request(app).delete('/v1/tokens/x').set('Authorization', auth)).status, 403);
  }
  t.is((await request(app).get('/v1/tokens')).status, 401);
  for (const [body, field] of [
    [{ scope: 'root' }, /scope/],
    [{ scope: 'admin', colour: 'red' }, /colour/],
    [{ scope: 'admin', expiresIn: 'soon' }, /expire/],
    [[1, 2], /token/],
  ] as Array<[unknown, RegExp]>) {
    const res = await request(app)
      .post('/v1/tokens')
      .set('Authorization', admin)
      .send(body as object);
    t.is(res.status, 400, JSON.stringify(body));
    t.regex(String(res.body.error?.message), field);
  }
  const missing = await request(app)
    .delete('/v1/tokens/00000000-0000-4000-8000-000000000000')
    .set('Authorization', admin);
  t.is(missing.status, 404);
  t.is((await request(app).get('/v1/tokens?limit=0').set('Authorization', admin)).status, 400);
  t.is((await request(app).get('/v1/tokens?cursor=zz').set('Authorization', admin)).status, 400);
  t.is((await request(app).get('/v1/tokens?scope=admin').set('Authorization', admin)).status, 400);
});

dbTest('tokens API: pages hold each token once; ETag and 304', async (t, { site }) => {
  const app = createApp(site);
  const admin = await bearer(site, 'admin');
  for (let i = 0; i < 6; i++) await site.tokens.create({ name: `t-${i}`, scope: 'read' }, 'test');
  const seen: string[] = [];
  let cursor: string | null = null;
  do {
    const res = await request(app)
      .get('/v1/tokens')
      .query({ limit: '3', ...(cursor === null ? {} : { cursor }) })
      .set('Authorization', admin);
    t.is(res.status, 200, res.text);
    seen.push(...(res.body.tokens as Array<{ id: string }>).map((x) => x.id));
    cursor = res.body.next as string | null;
  } while (cursor !== null);
  t.is(seen.length, 7);
  t.is(new Set(seen).size, 7);
  const first = await request(app).get('/v1/tokens').set('Authorization', admin);
  const again = await request(app)
    .get('/v1/tokens')
    .set('Authorization', admin)
    .set('If-None-Match', first.headers['etag'] as string);
  t.is(again.status, 304);
});
