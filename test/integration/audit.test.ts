import request from 'supertest';
import { createApp } from '../../src/server/app.js';
import { auditSource } from '../../src/storage/catalog-repo.js';
import type { AuditEntry } from '../../src/site/audit.js';
import { register, registration } from '../helpers/clients.js';
import { fileManifest, publishBytes } from '../helpers/publish.js';
import { dbTest } from '../helpers/site.js';

dbTest(
  'audit: every change writes one row naming who, what, and from where',
  async (t, { site }) => {
    site.config.site.approval = 'manual';
    site.config.site.duplicateHardwareId = 'manual';
    const app = createApp(site);
    const admin = await site.tokens.create({ name: 'ops', scope: 'admin' }, 'cli:alice');
    const auth = `Bearer ${admin.token}`;
    const post = (path: string, body?: object) =>
      request(app).post(path).set('Authorization', auth).send(body);

    // Local changes (the CLI runs its services inside this source).
    const a = await auditSource.run('cli', async () => {
      await site.groups.create('ring1', 'cli:alice');
      await site.groups.create('ring2', 'cli:alice');
      return publishBytes(site, 'a1', fileManifest('a.bin'), 'a.bin');
    });
    const c = (await register(app, registration())).body;
    await auditSource.run('cli', () => site.groups.addClient('ring1', c.clientId, 'cli:alice'));

    // Remote changes, through the admin API with a token.
    t.is((await post(`/v1/clients/${c.clientId}/approve`)).status, 200);
    t.is((await post(`/v1/clients/${c.clientId}/block`)).status, 200);
    t.is((await post(`/v1/clients/${c.clientId}/unblock`)).status, 200);
    const dup = (await register(app, registration())).body;
    t.is(dup.status, 'conflict');
    const resolveBad = await post(`/v1/clients/${dup.clientId}/resolve`, { how: 'maybe' });
    t.is(resolveBad.status, 400);
    t.is((await post(`/v1/clients/${dup.clientId}/resolve`, { how: 'new' })).status, 200);
    const deploy = { updateId: a.updateId, group: 'ring1', action: 'install' };
    t.is((await post('/v1/deployments', deploy)).status, 201);
    await request(app)
      .post('/v1/status')
      .set('Authorization', `Bearer ${c.secret}`)
      .send({
        messages: [
          { id: 'i1', topic: 'update', updateId: a.updateId, revision: 1, state: 'installed' },
        ],
      })
      .expect(202);
    const promotion = { updateId: a.updateId, from: 'ring1', to: 'ring2' };
    t.is((await post('/v1/promotions', promotion)).status, 201);
    // A refused change leaves no row.
    t.is((await post('/v1/promotions', { ...promotion, to: 'nope' })).status, 404);
    t.is((await post(`/v1/updates/${a.updateId}/expire`)).status, 200);
    const other = await site.tokens.create({ name: 'ci', scope: 'publish' }, 'token:ops');
    await site.tokens.revoke(other.id, 'token:ops');

    const res = await request(app).get('/v1/audit').set('Authorization', auth).expect(200);
    const entries = res.body.entries as AuditEntry[];
    const seen = entries.map((e) => [e.action, e.actor, e.tokenId, sourceKind(e.source)]);
    // The token id rides beside the name on every change made with the token (a request), and
    // only there: a direct call naming an actor has no token behind it.
    const ops = admin.id;
    t.deepEqual(seen, [
      ['token.create', 'cli:alice', null, null],
      ['group.create', 'cli:alice', null, 'cli'],
      ['group.create', 'cli:alice', null, 'cli'],
      ['publish', 'test', null, 'cli'],
      ['client.register', `client:${c.clientId}`, null, 'address'],
      ['group.add-client', 'cli:alice', null, 'cli'],
      ['client.approve', 'token:ops', ops, 'address'],
      ['client.block', 'token:ops', ops, 'address'],
      ['client.unblock', 'token:ops', ops, 'address'],
      ['client.register', `client:${dup.clientId}`, null, 'address'],
      ['client.resolve.new', 'token:ops', ops, 'address'],
      ['deployment.approve', 'token:ops', ops, 'address'],
      ['deployment.promote', 'token:ops', ops, 'address'],
      ['expire', 'token:ops', ops, 'address'],
      ['token.create', 'token:ops', null, null],
      ['token.revoke', 'token:ops', null, null],
    ]);
    t.like(res.body, { truncated: false, next: null });
    for (const e of entries) t.regex(e.at, /^\d{4}-\d{2}-\d{2}T/);
    t.is(entries.find((e) => e.action === 'expire')?.target, a.updateId);
    t.like(
      entries.find((e) => e.action === 'token.create' && e.actor === 'token:ops'),
      {
        target: 'ci',
        detail: { id: other.id, scope: 'publish' },
      },
    );
    t.false(JSON.stringify(entries).includes(other.token), 'no secret in the log');
  },
);

dbTest('GET /v1/audit: since (time or duration), limit, admin scope', async (t, { site }) => {
  const app = createApp(site);
  const auth = `Bearer ${(await site.tokens.create({ name: 'ops', scope: 'admin' }, 'x')).token}`;
  for (const name of ['g1', 'g2', 'g3']) await site.groups.create(name, 'x');
  await site.db('audit_log').where({ target: 'g1' }).update({ at: '2020-01-01T00:00:00.000Z' });
  const get = (query: string) => request(app).get(`/v1/audit${query}`).set('Authorization', auth);

  const targets = async (query: string): Promise<Array<string | null>> =>
    ((await get(query).expect(200)).body.entries as AuditEntry[]).map((e) => e.target);
  t.deepEqual(await targets(''), ['ops', 'g1', 'g2', 'g3']);
  t.deepEqual(await targets('?since=1h'), ['ops', 'g2', 'g3']);
  t.deepEqual(await targets('?since=2019-12-31T23:00:00Z'), ['ops', 'g1', 'g2', 'g3']);
  t.deepEqual(await targets('?since=2020-06-01'), ['ops', 'g2', 'g3']);
  t.deepEqual(await targets('?limit=2'), ['g2', 'g3'], 'the newest, oldest first');

  // A page cut short by the limit says so, and names the query for the older entries.
  const ids = ((await get('').expect(200)).body.entries as AuditEntry[]).map((e) => e.id);
  const [opsId, g1Id, g2Id] = ids;
  t.like((await get('').expect(200)).body, { truncated: false, next: null });
  t.like((await get('?limit=4').expect(200)).body, { truncated: false, next: null });
  const cut = (await get('?limit=2').expect(200)).body;
  t.like(cut, { truncated: true, next: { before: g2Id } });
  const older = (await get(`?limit=2&before=${g2Id}`).expect(200)).body;
  t.deepEqual(
    (older.entries as AuditEntry[]).map((e) => e.target),
    ['ops', 'g1'],
  );
  t.like(older, { truncated: false, next: null });
  t.like((await get(`?limit=1&before=${g2Id}`).expect(200)).body, {
    entries: [{ id: g1Id }],
    truncated: true,
    next: { before: g1Id },
  });
  // With since: only what matches it counts (g1 is older than an hour ago).
  t.like((await get(`?since=1h&limit=1&before=${g2Id}`).expect(200)).body, {
    entries: [{ id: opsId }],
    truncated: false,
    next: null,
  });
  for (const bad of [
    '?since=yesterday',
    '?limit=0',
    '?limit=x',
    '?since=1h&since=2h',
    '?before=x',
    '?before=0',
    '?before=1&before=2',
  ]) {
    const res = await get(bad);
    t.is(res.status, 400, bad);
    t.is(res.body.error.code, 'invalid_input');
  }
  const approver = await site.tokens.create({ name: 'a', scope: 'approve' }, 'x');
  t.is(
    (await request(app).get('/v1/audit').set('Authorization', `Bearer ${approver.token}`)).status,
    403,
  );
});

/** Addresses differ by host (127.0.0.1, ::1, ::ffff:127.0.0.1); what matters is that one was recorded. */
function sourceKind(source: string | null): string | null {
  if (source === null || source === 'cli') return source;
  return /^[0-9a-f:.]+$/i.test(source) ? 'address' : source;
}
