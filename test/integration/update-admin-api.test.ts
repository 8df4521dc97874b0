import request from 'supertest';
import { createApp } from '../../src/server/app.js';
import { fileManifest, publishBytes } from '../helpers/publish.js';
import { dbTest } from '../helpers/site.js';
import { tokenOf } from '../helpers/tokens.js';
import { publishNumbered } from '../helpers/updates.js';

dbTest(
  'GET /v1/updates: filtered pages with a next cursor and an ETag; bad filters are 400s naming the parameter',
  async (t, { site }) => {
    const app = createApp(site);
    const read = `Bearer ${await tokenOf(site, 'read')}`;
    const ids = await publishNumbered(site, [1, 2, 3], (n) => ({
      title: `Tool ${n}`,
      product: n === 3 ? 'Other' : 'Tool',
    }));
    const get = (query: Record<string, string>) =>
      request(app).get('/v1/updates').query(query).set('Authorization', read);

    const first = await get({ limit: '2' });
    t.is(first.status, 200, first.text);
    t.deepEqual(Object.keys(first.body as object), ['updates', 'next']);
    t.is(first.body.updates.length, 2);
    t.is(typeof first.body.next, 'string');
    t.like(first.body.updates[0], { updateId: ids[2], title: 'Tool 3', status: 'live' });
    const second = await get({ limit: '2', cursor: first.body.next as string });
    t.deepEqual(
      second.body.updates.map((u: { updateId: string }) => u.updateId),
      [ids[0]],
    );
    t.is(second.body.next, null);

    // The ETag: the same list again is a 304.
    const etag = first.headers['etag'] as string;
    t.regex(etag, /^"[\w-]+"$/);
    const again = await get({ limit: '2' }).set('If-None-Match', etag);
    t.is(again.status, 304);

    const filtered = await get({ product: 'Tool', q: 'TOOL 2' });
    t.deepEqual(
      filtered.body.updates.map((u: { updateId: string }) => u.updateId),
      [ids[1]],
    );

    for (const [query, field] of [
      [{ status: 'gone' }, 'status'],
      [{ since: 'last week' }, 'since'],
      [{ limit: '5000' }, 'limit'],
      [{ cursor: 'abc' }, 'cursor'],
      [{ search: 'x' }, 'search'],
    ] as const) {
      const res = await get(query);
      t.is(res.status, 400, JSON.stringify(query));
      t.is(res.body.error.code, 'invalid_input');
      t.true((res.body.error.message as string).startsWith(`${field}: `), res.body.error.message);
    }
    const twice = await request(app)
      .get('/v1/updates?product=a&product=b')
      .set('Authorization', read);
    t.is(twice.status, 400);
    t.regex(twice.body.error.message as string, /^product: give it once/);
  },
);

dbTest(
  'GET /v1/updates/:updateId by ID or prefix; decline and undecline need publish and are audited under the token',
  async (t, { site }) => {
    const app = createApp(site);
    const read = `Bearer ${await tokenOf(site, 'read')}`;
    const publish = `Bearer ${await tokenOf(site, 'publish', 'pipeline')}`;
    const a = await publishBytes(site, 'a', fileManifest('a.bin'), 'a.bin');

    const shown = await request(app)
      .get(`/v1/updates/${a.updateId.slice(0, 6)}`)
      .set('Authorization', read);
    t.is(shown.status, 200, shown.text);
    t.like(shown.body, { updateId: a.updateId, status: 'live', latestRevision: 1 });
    t.deepEqual(shown.body.revisions[0].files, [
      { name: 'a.bin', size: 1, sha256: a.sha256, sha1: a.sha1, kind: 'file' },
    ]);
    t.truthy(shown.headers['etag']);
    const unknown = await request(app)
      .get('/v1/updates/ffffffff-ffff-4fff-8fff-ffffffffffff')
      .set('Authorization', read);
    t.is(unknown.status, 404);
    const bad = await request(app).get('/v1/updates/not-hex').set('Authorization', read);
    t.is(bad.status, 400);
    t.regex(bad.body.error.message as string, /^updateId: /);

    const before = await request(app).get('/v1/updates').set('Authorization', read);
    const etag = before.headers['etag'] as string;
    const notModified = await request(app)
      .get('/v1/updates')
      .set('Authorization', read)
      .set('If-None-Match', etag);
    t.is(notModified.status, 304);
    const refused = await request(app)
      .post(`/v1/updates/${a.updateId}/decline`)
      .set('Authorization', read);
    t.is(refused.status, 403);
    const declined = await request(app)
      .post(`/v1/updates/${a.updateId}/decline`)
      .set('Authorization', publish);
    t.is(declined.status, 200, declined.text);
    t.like(declined.body, { updateId: a.updateId, state: 'declined', changed: true });
    // The list changed, so the old ETag no longer matches.
    const changed = await request(app)
      .get('/v1/updates')
      .set('Authorization', read)
      .set('If-None-Match', etag);
    t.is(changed.status, 200);
    t.is(changed.body.updates[0].status, 'declined');
    const listed = await request(app)
      .get('/v1/updates')
      .query({ status: 'declined' })
      .set('Authorization', read);
    t.deepEqual(
      listed.body.updates.map((u: { updateId: string }) => u.updateId),
      [a.updateId],
    );
    // A deployment of it is refused over HTTP too.
    const deploy = await request(app)
      .post('/v1/deployments')
      .set('Authorization', `Bearer ${await tokenOf(site, 'approve')}`)
      .send({ updateId: a.updateId, group: 'All Computers', action: 'install' });
    t.is(deploy.status, 409);
    t.regex(deploy.body.error.message as string, /declined/);

    const undeclined = await request(app)
      .post(`/v1/updates/${a.updateId.slice(0, 8)}/undecline`)
      .set('Authorization', publish);
    t.like(undeclined.body, { state: 'active', changed: true });
    const audit = (await site.audit.list({})).entries.filter((e) => e.target === a.updateId);
    t.deepEqual(
      audit.map((e) => [e.action, e.actor]),
      [
        ['decline', 'token:pipeline'],
        ['undecline', 'token:pipeline'],
      ],
    );
  },
);
