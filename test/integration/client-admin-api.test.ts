import { randomUUID } from 'node:crypto';
import request from 'supertest';
import type { Express } from 'express';
import { createApp } from '../../src/server/app.js';
import type { Site } from '../../src/app.js';
import type { ClientView } from '../../src/site/client-admin.js';
import { dbTest } from '../helpers/site.js';
import { bearer } from '../helpers/tokens.js';

interface Seed {
  name?: string;
  approval?: 'approved' | 'pending';
  recordState?: 'active' | 'conflict' | 'obsolete';
  blocked?: boolean;
  channel?: 'agent' | 'wusp';
  lastContact?: string | null;
  group?: string;
}

const DAY = 86_400_000;
const ago = (days: number): string => new Date(Date.now() - days * DAY).toISOString();

/** Client records written directly, with created_at in a known order (the list's order). */
async function seed(site: Site, seeds: Seed[]): Promise<string[]> {
  const ids: string[] = [];
  const groups = new Map<string, number>();
  for (const [i, s] of seeds.entries()) {
    const id = randomUUID();
    ids.push(id);
    await site.db('clients').insert({
      client_id: id,
      hardware_id: `hw-${String(i).padStart(4, '0')}`,
      name: s.name ?? `pc-${String(i).padStart(4, '0')}`,
      os: 'linux',
      architecture: 'x64',
      client_version: '1.0.0',
      approval: s.approval ?? 'approved',
      blocked: s.blocked ?? false,
      record_state: s.recordState ?? 'active',
      // Several records share a creation time: the client ID breaks the tie.
      created_at: new Date(Date.UTC(2026, 0, 1, 0, 0, Math.floor(i / 3))).toISOString(),
      last_contact: s.lastContact === undefined ? ago(1) : s.lastContact,
      channel: s.channel ?? 'agent',
    });
    if (s.group !== undefined) {
      let gid = groups.get(s.group);
      if (gid === undefined) {
        await site.groups.create(s.group, 'test');
        const row = (await site.db('groups').where({ name: s.group }).first('id')) as {
          id: number;
        };
        gid = Number(row.id);
        groups.set(s.group, gid);
      }
      await site.db('client_groups').insert({ client_id: id, group_id: gid });
    }
  }
  return ids;
}

async function list(
  app: Express,
  auth: string,
  query: Record<string, string>,
): Promise<{ clients: ClientView[]; next: string | null }> {
  const res = await request(app).get('/v1/clients').query(query).set('Authorization', auth);
  if (res.status !== 200) throw new Error(`${res.status} ${res.text}`);
  return res.body as { clients: ClientView[]; next: string | null };
}

/** Every page of a filtered list, following `next`. */
async function all(app: Express, auth: string, query: Record<string, string>): Promise<string[]> {
  const names: string[] = [];
  let cursor: string | null = null;
  for (let pages = 0; pages < 100; pages++) {
    const page = await list(app, auth, { ...query, ...(cursor === null ? {} : { cursor }) });
    names.push(...page.clients.map((c) => c.name));
    cursor = page.next;
    if (cursor === null) return names;
  }
  throw new Error('more than 100 pages');
}

const SEEDS: Seed[] = [
  { name: 'Alpha-01', approval: 'pending' },
  { name: 'alpha-02', group: 'ring1' },
  { name: 'beta-01', blocked: true, group: 'ring1' },
  { name: 'beta-02', recordState: 'conflict', approval: 'pending' },
  { name: 'gamma', recordState: 'obsolete' },
  { name: 'wua-01', channel: 'wusp', lastContact: ago(40) },
  { name: 'never', approval: 'pending', lastContact: null },
  { name: '100%_sure' },
  ...Array.from({ length: 14 }, (_, i): Seed => ({ name: `bulk-${String(i).padStart(2, '0')}` })),
];

dbTest('clients list: filters, keyset pages that hold each client once', async (t, { site }) => {
  const ids = await seed(site, SEEDS);
  const app = createApp(site);
  const auth = await bearer(site, 'read');
  const every = SEEDS.map((s) => s.name ?? '');

  // Several pages of 4 hold each client exactly once, in creation order then ID.
  const paged = await all(app, auth, { limit: '4' });
  t.deepEqual([...paged].sort(), [...every].sort());
  t.is(new Set(paged).size, every.length);
  const first = await list(app, auth, { limit: '4' });
  t.is(first.clients.length, 4);
  t.truthy(first.next);
  t.deepEqual(
    Object.keys(first).sort(),
    ['clients', 'next'],
    'the answer shape stays {clients, next}',
  );

  const names = async (query: Record<string, string>): Promise<string[]> =>
    (await all(app, auth, { limit: '2', ...query })).sort();
  t.deepEqual(await names({ status: 'pending' }), ['Alpha-01', 'never']);
  t.deepEqual(await names({ status: 'conflict' }), ['beta-02']);
  t.deepEqual(await names({ conflict: 'true' }), ['beta-02']);
  t.is((await names({ conflict: 'false' })).length, every.length - 1);
  t.deepEqual(await names({ status: 'obsolete' }), ['gamma']);
  t.deepEqual(await names({ state: 'obsolete' }), ['gamma']);
  t.deepEqual(await names({ blocked: 'true' }), ['beta-01']);
  t.is((await names({ blocked: 'false' })).length, every.length - 1);
  t.deepEqual(await names({ group: 'ring1' }), ['alpha-02', 'beta-01']);
  t.deepEqual(await names({ group: 'ring1', blocked: 'false' }), ['alpha-02']);
  t.deepEqual(await names({ group: 'no-such-group' }), []);
  t.deepEqual(await names({ channel: 'wusp' }), ['wua-01']);
  t.is((await names({ channel: 'native' })).length, every.length - 1);
  t.deepEqual(await names({ staleDays: '30' }), ['never', 'wua-01']);
  // Search: part of the name in any case, the start of an ID, the start of a hardware ID.
  t.deepEqual(await names({ search: 'ALPHA' }), ['Alpha-01', 'alpha-02']);
  t.deepEqual(await names({ search: ids[2]?.slice(0, 13) ?? '' }), ['beta-01']);
  t.deepEqual(await names({ search: 'hw-0005' }), ['wua-01']);
  // LIKE wildcards in the search are the characters themselves.
  t.deepEqual(await names({ search: '%_' }), ['100%_sure']);
  t.deepEqual(await names({ search: 'alpha', status: 'approved' }), ['alpha-02']);

  const one = (await list(app, auth, { search: 'wua-01' })).clients[0];
  t.like(one, { name: 'wua-01', channel: 'wusp', status: 'approved', blocked: false });
});

dbTest('clients list: bad filters and cursors are 400s naming the field', async (t, { site }) => {
  await seed(site, SEEDS.slice(0, 3));
  const app = createApp(site);
  const auth = await bearer(site, 'read');
  for (const [query, field] of [
    [{ status: 'sleeping' }, /status/],
    [{ blocked: 'yes' }, /blocked/],
    [{ staleDays: '0' }, /staleDays/],
    [{ staleDays: 'ten' }, /staleDays/],
    [{ channel: 'carrier-pigeon' }, /channel/],
    [{ limit: '0' }, /limit/],
    [{ limit: '5000' }, /limit/],
    [{ cursor: 'not a cursor!' }, /cursor/],
    [{ cursor: Buffer.from('[1,2]').toString('base64url') }, /cursor/],
    [{ colour: 'red' }, /colour: unknown field/],
    [{ search: '' }, /search/],
  ] as Array<[Record<string, string>, RegExp]>) {
    const res = await request(app).get('/v1/clients').query(query).set('Authorization', auth);
    t.is(res.status, 400, JSON.stringify(query));
    t.is(res.body.error?.code, 'invalid_input');
    t.regex(String(res.body.error?.message), field, JSON.stringify(query));
  }
  const twice = await request(app)
    .get('/v1/clients?status=pending&status=approved')
    .set('Authorization', auth);
  t.is(twice.status, 400);
  t.regex(String(twice.body.error?.message), /status/);
});

dbTest('clients list: ETag and 304, a new one after a change', async (t, { site }) => {
  const [first] = await seed(site, [{ name: 'pc-a', approval: 'pending' }, { name: 'pc-b' }]);
  const app = createApp(site);
  const auth = await bearer(site, 'approve');
  const a = await request(app).get('/v1/clients').set('Authorization', auth);
  t.is(a.status, 200);
  const etag = a.headers['etag'] as string;
  t.regex(etag, /^"[A-Za-z0-9_-]+"$/);
  const same = await request(app)
    .get('/v1/clients')
    .set('Authorization', auth)
    .set('If-None-Match', etag);
  t.is(same.status, 304);
  t.is(same.text, '');
  const approved = await request(app)
    .post(`/v1/clients/${first}/approve`)
    .set('Authorization', auth);
  t.is(approved.status, 200, approved.text);
  const changed = await request(app)
    .get('/v1/clients')
    .set('Authorization', auth)
    .set('If-None-Match', etag);
  t.is(changed.status, 200);
  t.not(changed.headers['etag'], etag);
});

dbTest(
  'client detail: the record and its recent history; unknown is a 404',
  async (t, { site }) => {
    const [id] = await seed(site, [{ name: 'pc-hist', group: 'ring1' }]);
    for (let i = 0; i < 3; i++)
      await site.db('state_messages').insert({
        message_id: `m-${i}`,
        client_id: id,
        authenticated: true,
        topic: 'update',
        update_id: null,
        revision_number: null,
        state: i === 2 ? 'failed' : 'downloading',
        code: i === 2 ? -2147024894 : null,
        received_at: ago(3 - i),
      });
    const app = createApp(site);
    const auth = await bearer(site, 'read');
    const res = await request(app).get(`/v1/clients/${id}`).set('Authorization', auth);
    t.is(res.status, 200, res.text);
    t.like(res.body.client, { clientId: id, name: 'pc-hist', groups: ['ring1'], channel: 'agent' });
    t.deepEqual(
      (res.body.history as Array<{ state: string }>).map((h) => h.state),
      ['failed', 'downloading', 'downloading'],
      'newest first',
    );
    t.truthy(res.headers['etag']);
    const report = await request(app)
      .get('/v1/reports/clients/PC-HIST/history')
      .set('Authorization', auth);
    t.is(report.status, 200, report.text);
    t.is((report.body.history as unknown[]).length, 3, 'the history report takes a name too');
    const missing = await request(app)
      .get('/v1/clients/00000000-0000-4000-8000-00000000abcd')
      .set('Authorization', auth);
    t.is(missing.status, 404);
    t.is(missing.body.error?.code, 'not_found');
  },
);

dbTest(
  'client changes need the approve scope (operators), reads any token',
  async (t, { site }) => {
    const [id] = await seed(site, [{ name: 'pc-op', approval: 'pending' }]);
    const app = createApp(site);
    const read = await bearer(site, 'read');
    const publish = await bearer(site, 'publish');
    const approve = await bearer(site, 'approve');
    t.is((await request(app).get('/v1/clients').set('Authorization', publish)).status, 200);
    for (const auth of [read, publish]) {
      const res = await request(app).post(`/v1/clients/${id}/approve`).set('Authorization', auth);
      t.is(res.status, 403);
    }
    const ok = await request(app).post(`/v1/clients/${id}/approve`).set('Authorization', approve);
    t.is(ok.status, 200, ok.text);
    t.is(ok.body.status, 'approved');
    const blocked = await request(app)
      .post(`/v1/clients/${id}/block`)
      .set('Authorization', approve);
    t.is(blocked.body.blocked, true);
    const entries = (await site.db('audit_log').where({ target: id }).orderBy('id')) as Array<{
      action: string;
      actor: string;
    }>;
    t.deepEqual(
      entries.map((e) => e.action),
      ['client.approve', 'client.block'],
    );
    t.regex(entries[0]?.actor ?? '', /^token:test-approve-/);
  },
);

dbTest('clients are named by ID, unique ID prefix or name', async (t, { site }) => {
  const [a, b] = await seed(site, [
    { name: 'desk-01', approval: 'pending' },
    { name: 'desk-02', approval: 'pending' },
    { name: 'twin' },
    { name: 'Twin' },
  ]);
  const app = createApp(site);
  const auth = await bearer(site, 'approve');
  const byName = await request(app).post('/v1/clients/DESK-01/approve').set('Authorization', auth);
  t.is(byName.status, 200, byName.text);
  t.like(byName.body, { clientId: a, status: 'approved' });
  const prefix = (b ?? '').slice(0, 8);
  const shown = await request(app).get(`/v1/clients/${prefix}`).set('Authorization', auth);
  t.is(shown.status, 200, shown.text);
  t.is(shown.body.client.clientId, b);
  const ambiguous = await request(app).get('/v1/clients/twin').set('Authorization', auth);
  t.is(ambiguous.status, 400);
  t.regex(String(ambiguous.body.error?.message), /names 2 clients/);
  const none = await request(app).post('/v1/clients/nobody/block').set('Authorization', auth);
  t.is(none.status, 404);
});
