import request from 'supertest';
import { createApp } from '../../src/server/app.js';
import { dbTest } from '../helpers/site.js';
import { bearer } from '../helpers/tokens.js';
import { PASSWORD, loginAs } from '../helpers/sessions.js';

dbTest('users: add, list, passwd, remove; every change audited', async (t, { site }) => {
  const alice = await site.users.add(
    { name: 'Alice', role: 'admin', password: PASSWORD },
    'cli:root',
  );
  t.like(alice, { name: 'alice', role: 'admin' });
  await site.users.add({ name: 'bob', role: 'viewer', password: PASSWORD }, 'cli:root');
  t.deepEqual(
    (await site.users.list()).map((u) => [u.name, u.role]),
    [
      ['alice', 'admin'],
      ['bob', 'viewer'],
    ],
  );
  const page = await site.users.list({ limit: 1, after: 'alice' });
  t.deepEqual(
    page.map((u) => u.name),
    ['bob'],
  );
  const dup = await t.throwsAsync(
    site.users.add({ name: 'ALICE', role: 'viewer', password: PASSWORD }, 'test'),
  );
  t.is((dup as { code?: string }).code, 'conflict');

  await site.users.passwd('alice', 'a brand new password', 'user:alice');
  t.truthy(await site.users.check('alice', 'a brand new password'));
  t.is(await site.users.check('alice', PASSWORD), undefined);
  await site.users.remove('bob', 'user:alice');
  t.deepEqual(
    (await site.users.list()).map((u) => u.name),
    ['alice'],
  );
  t.is(await site.users.check('bob', PASSWORD), undefined, 'a removed account cannot log in');
  // A removed name can be given again.
  await site.users.add({ name: 'bob', role: 'operator', password: PASSWORD }, 'user:alice');
  const missing = await t.throwsAsync(site.users.remove('carol', 'test'));
  t.is((missing as { code?: string }).code, 'not_found');

  const rows = (await site.db('audit_log').orderBy('id')) as Array<{
    actor: string;
    action: string;
    target: string;
  }>;
  t.deepEqual(
    rows.map((r) => [r.actor, r.action, r.target]),
    [
      ['cli:root', 'user.add', 'alice'],
      ['cli:root', 'user.add', 'bob'],
      ['user:alice', 'user.passwd', 'alice'],
      ['user:alice', 'user.remove', 'bob'],
      ['user:alice', 'user.add', 'bob'],
    ],
  );
  const stored = JSON.stringify(await site.db('users').select());
  t.false(stored.includes(PASSWORD));
  t.false(stored.includes('a brand new password'));
});

dbTest('users: bad input is refused with the field named', async (t, { site }) => {
  for (const [input, field] of [
    [{ name: 'x', role: 'root', password: PASSWORD }, /role/],
    [{ name: 'a b', role: 'admin', password: PASSWORD }, /name/],
    [{ name: '', role: 'admin', password: PASSWORD }, /name/],
    [{ name: 'x'.repeat(65), role: 'admin', password: PASSWORD }, /name/],
    [{ name: 'carol', role: 'admin', password: 'short' }, /password: must be at least/],
    [{ name: 'carol', role: 'admin', password: 'long enough\tpassword' }, /password/],
    [{ name: 'carol', role: 'admin', password: PASSWORD, extra: 1 }, /extra/],
  ] as const) {
    const err = await t.throwsAsync(site.users.add(input, 'test'));
    t.is((err as { code?: string }).code, 'invalid_input', JSON.stringify(input));
    t.regex(err?.message ?? '', field);
  }
  t.is((await site.users.list()).length, 0);
});

dbTest('sessions: login sets a strict cookie; who am I; logout ends it', async (t, { site }) => {
  const app = createApp(site);
  await site.users.add({ name: 'alice', role: 'operator', password: PASSWORD }, 'test');
  const res = await request(app).post('/v1/session').send({ name: 'Alice', password: PASSWORD });
  t.is(res.status, 200, res.text);
  t.deepEqual(res.body.user, { name: 'alice', role: 'operator' });
  t.regex(res.body.csrfToken, /^[A-Za-z0-9_-]{43}$/);
  t.is(res.headers['cache-control'], 'no-store');
  const set = (res.headers['set-cookie'] as unknown as string[])[0] ?? '';
  t.regex(set, /^upcat_session=[A-Za-z0-9_-]{43}; /);
  t.regex(set, /; HttpOnly(;|$)/);
  t.regex(set, /; SameSite=Strict(;|$)/);
  t.regex(set, /; Path=\/(;|$)/);
  t.regex(set, /; Max-Age=43200(;|$)/);
  t.notRegex(set, /Secure/, 'not over plain HTTP');
  const cookie = set.split(';')[0] ?? '';

  // The database holds the session's hash, never the id.
  const id = cookie.slice('upcat_session='.length);
  t.false(JSON.stringify(await site.db('sessions').select()).includes(id));

  const me = await request(app).get('/v1/session').set('Cookie', cookie);
  t.is(me.status, 200);
  t.deepEqual(me.body, {
    user: { name: 'alice', role: 'operator' },
    csrfToken: res.body.csrfToken,
  });

  const noCsrf = await request(app).delete('/v1/session').set('Cookie', cookie);
  t.is(noCsrf.status, 403);
  t.regex(noCsrf.body.error.message, /CSRF/);
  const out = await request(app)
    .delete('/v1/session')
    .set('Cookie', cookie)
    .set('X-CSRF-Token', res.body.csrfToken);
  t.is(out.status, 204);
  t.regex(
    (out.headers['set-cookie'] as unknown as string[])[0] ?? '',
    /^upcat_session=; .*Max-Age=0/,
  );
  const after = await request(app).get('/v1/session').set('Cookie', cookie);
  t.is(after.status, 401);
  t.is(after.body.error.code, 'unauthorized');
  t.is((await request(app).get('/v1/clients').set('Cookie', cookie)).status, 401);
  t.is((await request(app).get('/v1/session')).status, 401);

  const audit = (await site.db('audit_log').orderBy('id')) as Array<{
    actor: string;
    action: string;
  }>;
  t.deepEqual(
    audit.filter((r) => r.action.startsWith('session.')).map((r) => [r.actor, r.action]),
    [
      ['user:alice', 'session.login'],
      ['user:alice', 'session.logout'],
    ],
  );
});

dbTest('sessions: a failed login does not say whether the account exists', async (t, { site }) => {
  const app = createApp(site);
  await site.users.add({ name: 'alice', role: 'viewer', password: PASSWORD }, 'test');
  const wrong = await request(app)
    .post('/v1/session')
    .send({ name: 'alice', password: 'not it at all' });
  const unknown = await request(app)
    .post('/v1/session')
    .send({ name: 'nobody', password: 'not it at all' });
  t.is(wrong.status, 401);
  t.is(unknown.status, 401);
  t.deepEqual(wrong.body, unknown.body);
  t.false('set-cookie' in wrong.headers);
  const bad = await request(app).post('/v1/session').send({ name: 'alice' });
  t.is(bad.status, 400);
  t.regex(bad.body.error.message, /password/);
});

dbTest(
  'sessions: roles decide as scopes do (viewer reads, operator deploys, admin manages)',
  async (t, { site }) => {
    const app = createApp(site);
    const viewer = await loginAs(site, app, 'vera', 'viewer');
    const operator = await loginAs(site, app, 'otto', 'operator');
    const admin = await loginAs(site, app, 'ada', 'admin');
    const as = (who: typeof viewer, method: 'get' | 'post' | 'delete', path: string) =>
      request(app)[method](path).set('Cookie', who.cookie).set('X-CSRF-Token', who.csrf);

    // viewer: reads yes, changes no.
    t.is((await as(viewer, 'get', '/v1/deployments')).status, 200);
    const change = await as(viewer, 'post', '/v1/deployments').send({});
    t.is(change.status, 403);
    t.is(change.body.error.code, 'forbidden');
    t.regex(
      change.body.error.message,
      /user "vera" has role viewer; this route needs scope approve/,
    );
    // operator: deploys (past authorization: the empty body is the route's 400), no users, no audit.
    t.is((await as(operator, 'post', '/v1/deployments').send({})).status, 400);
    t.is((await as(operator, 'get', '/v1/users')).status, 403);
    t.is((await as(operator, 'get', '/v1/audit')).status, 403);
    t.is((await as(operator, 'post', '/v1/users').send({})).status, 403);
    // admin: everything.
    t.is((await as(admin, 'get', '/v1/users')).status, 200);
    t.is((await as(admin, 'get', '/v1/audit')).status, 200);
  },
);

dbTest(
  'sessions: a change needs the CSRF token; a Bearer token needs none',
  async (t, { site }) => {
    const app = createApp(site);
    const ada = await loginAs(site, app, 'ada', 'admin');
    const body = { name: 'newcomer', role: 'viewer', password: PASSWORD };
    const missing = await request(app).post('/v1/users').set('Cookie', ada.cookie).send(body);
    t.is(missing.status, 403);
    t.is(missing.body.error.code, 'forbidden');
    t.regex(missing.body.error.message, /CSRF/);
    const wrong = await request(app)
      .post('/v1/users')
      .set('Cookie', ada.cookie)
      .set(
        'X-CSRF-Token',
        ada.csrf.replace(/^./, (c) => (c === 'A' ? 'B' : 'A')),
      )
      .send(body);
    t.is(wrong.status, 403);
    t.regex(wrong.body.error.message, /CSRF/);
    t.is((await site.users.list()).length, 1, 'nothing was added');
    // Reads need no CSRF token.
    t.is((await request(app).get('/v1/users').set('Cookie', ada.cookie)).status, 200);
    const ok = await request(app)
      .post('/v1/users')
      .set('Cookie', ada.cookie)
      .set('X-CSRF-Token', ada.csrf)
      .send(body);
    t.is(ok.status, 201, ok.text);
    const viaToken = await request(app)
      .post('/v1/users')
      .set('Authorization', await bearer(site, 'admin'))
      .send({ ...body, name: 'second' });
    t.is(viaToken.status, 201, viaToken.text);
    const rows = (await site.db('audit_log').where({ action: 'user.add' }).orderBy('id')) as Array<{
      actor: string;
      target: string;
      token_id: string | null;
    }>;
    t.deepEqual(
      rows.map((r) => [r.actor.replace(/^token:.*/, 'token:*'), r.target, r.token_id === null]),
      [
        ['test', 'ada', true],
        ['user:ada', 'newcomer', true],
        ['token:*', 'second', false],
      ],
    );
  },
);

dbTest(
  'sessions: with a Bearer token beside the cookie, the token decides (its path unchanged)',
  async (t, { site }) => {
    const app = createApp(site);
    const vera = await loginAs(site, app, 'vera', 'viewer');
    const body = { name: 'newcomer', role: 'viewer', password: PASSWORD };
    // A viewer's cookie with an admin token: the token's scope, no CSRF token needed.
    const admin = await request(app)
      .post('/v1/users')
      .set('Cookie', vera.cookie)
      .set('Authorization', await bearer(site, 'admin'))
      .send(body);
    t.is(admin.status, 201, admin.text);
    // An admin's cookie with a publish token: the token's scope refuses.
    const ada = await loginAs(site, app, 'ada', 'admin');
    const publish = await request(app)
      .get('/v1/users')
      .set('Cookie', ada.cookie)
      .set('Authorization', await bearer(site, 'publish'));
    t.is(publish.status, 403);
    t.regex(publish.body.error.message, /^token ".*" has scope publish; this route needs admin$/);
    // A dead token is 401 even beside a live session.
    const dead = await request(app)
      .get('/v1/users')
      .set('Cookie', ada.cookie)
      .set('Authorization', 'Bearer upcat_nonsense');
    t.is(dead.status, 401);
    // A session is not a client credential.
    t.is((await request(app).get('/v1/sync').set('Cookie', ada.cookie)).status, 401);
  },
);

dbTest(
  'users: a role changes at once; the last admin is neither removed nor demoted',
  async (t, { site }) => {
    const app = createApp(site);
    await site.users.add({ name: 'ada', role: 'admin', password: PASSWORD }, 'test');
    const otto = await loginAs(site, app, 'otto', 'operator');
    const asOtto = () => request(app).get('/v1/users').set('Cookie', otto.cookie);
    t.is((await asOtto()).status, 403);

    // Promoted: the same session may now do what an admin does, with no new login.
    const promoted = await site.users.setRole('otto', 'admin', 'user:ada');
    t.is(promoted.role, 'admin');
    t.is((await asOtto()).status, 200);

    // Two admins: one may go; then the other is the last and stays.
    await site.users.setRole('ada', 'viewer', 'user:otto');
    const demote = await t.throwsAsync(site.users.setRole('otto', 'operator', 'user:otto'));
    t.is((demote as { code?: string }).code, 'conflict');
    t.regex((demote as Error).message, /last admin/);
    const remove = await t.throwsAsync(site.users.remove('otto', 'user:otto'));
    t.is((remove as { code?: string }).code, 'conflict');
    t.like(
      (await site.users.list()).find((u) => u.name === 'otto'),
      { role: 'admin' },
    );

    // Over HTTP: PATCH with a bad role or an extra field is a 400; the last admin a 409.
    const token = await bearer(site, 'admin');
    const patch = (name: string, body: unknown) =>
      request(app)
        .patch(`/v1/users/${name}`)
        .set('Authorization', token)
        .send(body as object);
    const bad = await patch('ada', { role: 'root' });
    t.is(bad.status, 400);
    t.regex(bad.body.error.message, /role/);
    t.is((await patch('ada', { role: 'admin', extra: 1 })).status, 400);
    t.is((await patch('nobody', { role: 'admin' })).status, 404);
    t.is((await patch('otto', { role: 'viewer' })).status, 409);
    t.is((await request(app).delete('/v1/users/otto').set('Authorization', token)).status, 409);
    const ok = await patch('ada', { role: 'admin' });
    t.is(ok.status, 200);
    t.is(ok.body.role, 'admin');

    const audited = (await site
      .db('audit_log')
      .where({ action: 'user.role' })
      .orderBy('id')) as Array<{
      target: string;
      detail: string;
    }>;
    t.deepEqual(
      audited.map((r) => r.target),
      ['otto', 'ada', 'ada'],
    );
  },
);
