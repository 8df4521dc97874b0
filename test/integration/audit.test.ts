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
    const seen = entries.map((e) => [e.action, e.actor, sourceKind(e.source)]);
    t.deepEqual(seen, [
      ['token.create', 'cli:alice', null],
      ['group.create', 'cli:alice', 'cli'],
      ['group.create', 'cli:alice', 'cli'],
      ['publish', 'test', 'cli'],
      ['client.register', `client:${c.clientId}`, 'address'],
      ['group.add-client', 'cli:alice', 'cli'],
      ['client.approve', 'token:ops', 'address'],
      ['client.block', 'token:ops', 'address'],
      ['client.unblock', 'token:ops', 'address'],
      ['client.register', `client:${dup.clientId}`, 'address'],
      ['client.resolve.new', 'token:ops', 'address'],
      ['deployment.approve', 'token:ops', 'address'],
      ['deployment.promote', 'token:ops', 'address'],
      ['expire', 'token:ops', 'address'],
      ['token.create', 'token:ops', null],
      ['token.revoke', 'token:ops', null],
    ]);
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
  for (const bad of ['?since=yesterday', '?limit=0', '?limit=x', '?since=1h&since=2h']) {
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
