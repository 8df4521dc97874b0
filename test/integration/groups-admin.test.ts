import type { Express } from 'express';
import request from 'supertest';
import type { Site } from '../../src/app.js';
import { createApp } from '../../src/server/app.js';
import { resolveClient } from '../../src/site/client-names.js';
import { register, registration } from '../helpers/clients.js';
import { fileManifest, publishBytes } from '../helpers/publish.js';
import { dbTest } from '../helpers/site.js';
import { bearer } from '../helpers/tokens.js';

async function clients(
  site: Site,
  app: Express,
  names: string[],
): Promise<Array<{ clientId: string; secret: string; name: string }>> {
  site.config.site.approval = 'auto-all';
  const out = [];
  for (const name of names) {
    const r = await register(app, registration({ hardwareId: `hw-${name}`, name }));
    out.push({ clientId: r.body.clientId, secret: r.body.secret, name });
  }
  return out;
}

const codeOf = (err: unknown): string | undefined => (err as { code?: string }).code;

async function auditActions(site: Site): Promise<string[]> {
  return (await site.audit.list({})).entries.map((e) => `${e.action} ${e.target ?? ''}`);
}

dbTest(
  'groups: create, rename, members by ID prefix or name, show paged, delete',
  async (t, { site }) => {
    const app = createApp(site);
    const [a, b, c] = await clients(site, app, ['alpha', 'beta', 'gamma']);
    if (a === undefined || b === undefined || c === undefined) throw new Error('three clients');
    await site.groups.create('ring1', 'test');

    // Members named by full ID, a unique ID prefix, and a name in another case.
    const added = await site.groups.addClients(
      'ring1',
      [a.clientId, b.clientId.slice(0, 8), 'GAMMA'],
      'test',
    );
    t.deepEqual(
      added.map((x) => x.clientId),
      [a.clientId, b.clientId, c.clientId],
    );
    t.true(added.every((x) => x.added));
    // Idempotent: adding again changes nothing and says so.
    t.deepEqual(
      (await site.groups.addClients('ring1', ['alpha'], 'test')).map((x) => x.added),
      [false],
    );

    const list = await site.groups.list();
    t.like(
      list.find((g) => g.name === 'ring1'),
      { members: 3, builtin: false },
    );
    t.like(
      list.find((g) => g.name === 'Unassigned'),
      { members: 0 },
    );
    t.like(
      list.find((g) => g.name === 'All Computers'),
      { members: 3 },
    );

    // Paging the members returns each once, in client ID order.
    const seen: string[] = [];
    let after: string | undefined;
    for (let i = 0; i < 5; i++) {
      const page = await site.groups.show('ring1', { limit: 2, after });
      t.is(page.members, 3);
      seen.push(...page.clients.map((m) => m.clientId));
      if (page.next === null) break;
      after = page.clients[page.clients.length - 1]?.clientId;
    }
    t.deepEqual(seen, [a.clientId, b.clientId, c.clientId].sort());

    const renamed = await site.groups.rename('ring1', 'Ring One', 'test');
    t.deepEqual(renamed, { name: 'Ring One', builtin: false, members: 3 });
    t.is(codeOf(await t.throwsAsync(site.groups.show('ring1', { limit: 10 }))), 'not_found');
    t.deepEqual((await site.clients.get(a.clientId)).groups, ['Ring One'], 'membership follows');
    await site.groups.create('ring2', 'test');
    t.is(codeOf(await t.throwsAsync(site.groups.rename('Ring One', 'ring2', 'test'))), 'conflict');
    t.is(
      codeOf(await t.throwsAsync(site.groups.rename('All Computers', 'Everyone', 'test'))),
      'invalid_input',
    );

    const removed = await site.groups.removeClient('Ring One', 'beta', 'test');
    t.deepEqual(removed, { group: 'Ring One', clientId: b.clientId });
    t.is(
      codeOf(await t.throwsAsync(site.groups.removeClient('Ring One', 'beta', 'test'))),
      'not_found',
    );
    t.like(await site.groups.show('Unassigned', { limit: 10 }), { members: 1 });
    t.deepEqual(
      (await site.groups.show('Unassigned', { limit: 10 })).clients.map((m) => m.name),
      ['beta'],
    );

    t.deepEqual(await site.groups.remove('Ring One', 'test'), {
      name: 'Ring One',
      removedDeployments: 0,
      removedMembers: 2,
      catalogVersion: null,
    });
    t.like(await site.groups.show('Unassigned', { limit: 10 }), { members: 3 });
    for (const builtin of ['All Computers', 'Unassigned'])
      t.is(codeOf(await t.throwsAsync(site.groups.remove(builtin, 'test'))), 'invalid_input');

    t.deepEqual(
      (await auditActions(site)).filter((x) => x.startsWith('group.')),
      [
        'group.create ring1',
        'group.add-client ring1',
        'group.add-client ring1',
        'group.add-client ring1',
        'group.rename ring1',
        'group.create ring2',
        'group.remove-client Ring One',
        'group.delete Ring One',
      ],
    );
  },
);

dbTest(
  'groups: a group with deployments is deleted only with force, and its clients lose that policy',
  async (t, { site }) => {
    const app = createApp(site);
    const [a] = await clients(site, app, ['alpha']);
    if (a === undefined) throw new Error('a client');
    await site.groups.create('ring1', 'test');
    await site.groups.addClient('ring1', 'alpha', 'test');
    const u = await publishBytes(site, 'p1', fileManifest('a.bin'), 'a.bin');
    await site.deployments.approve(
      { updateId: u.updateId, group: 'ring1', action: 'install' },
      'test',
    );
    const sync = async (): Promise<string[]> =>
      (
        (await request(app).get('/v1/sync').set('Authorization', `Bearer ${a.secret}`)).body as {
          policy: { signed: { deployments: Array<{ updateId: string }> } };
        }
      ).policy.signed.deployments.map((d) => d.updateId);
    t.deepEqual(await sync(), [u.updateId]);

    const err = await t.throwsAsync(site.groups.remove('ring1', 'test'));
    t.is(codeOf(err), 'conflict');
    t.regex(err?.message ?? '', /still has 1 deployment/);
    t.is((await site.deployments.list()).length, 1, 'nothing changed');

    const removed = await site.groups.remove('ring1', 'test', { force: true });
    t.like(removed, { removedDeployments: 1, removedMembers: 1 });
    t.true(typeof removed.catalogVersion === 'number');
    t.deepEqual(await site.deployments.list(), []);
    t.deepEqual(await sync(), []);
  },
);

dbTest('client names: unique prefix, name, ambiguity and bad input', async (t, { site }) => {
  const app = createApp(site);
  const [a, b] = await clients(site, app, ['web-1', 'web-2']);
  if (a === undefined || b === undefined) throw new Error('two clients');
  t.is((await resolveClient(site.db, a.clientId.toUpperCase())).client_id, a.clientId);
  t.is((await resolveClient(site.db, 'WEB-2')).client_id, b.clientId);
  // A prefix both IDs share (the empty-ish one) is ambiguous; the message lists them.
  let shared = 0;
  while (a.clientId[shared] === b.clientId[shared]) shared++;
  if (shared > 0) {
    const err = await t.throwsAsync(resolveClient(site.db, a.clientId.slice(0, shared)));
    t.is(codeOf(err), 'invalid_input');
    t.regex(err?.message ?? '', /names 2 clients/);
  }
  t.is((await resolveClient(site.db, a.clientId.slice(0, shared + 1))).client_id, a.clientId);
  // The same name on two machines: ambiguous, solved by the ID.
  await register(app, registration({ hardwareId: 'hw-other', name: 'web-1' }));
  const dup = await t.throwsAsync(resolveClient(site.db, 'web-1'));
  t.is(codeOf(dup), 'invalid_input');
  t.regex(dup?.message ?? '', /give more of the ID/);
  t.is(codeOf(await t.throwsAsync(resolveClient(site.db, 'nobody'))), 'not_found');
  t.is(
    codeOf(await t.throwsAsync(resolveClient(site.db, '00000000-0000-4000-8000-000000000000'))),
    'not_found',
  );
  t.is(codeOf(await t.throwsAsync(resolveClient(site.db, 'a\u0000b'))), 'invalid_input');
  t.is(codeOf(await t.throwsAsync(resolveClient(site.db, ' '))), 'invalid_input');
});

dbTest(
  'groups API: scopes, paging with ETag, changes and 4xx naming the field',
  async (t, { site }) => {
    const app = createApp(site);
    const [a] = await clients(site, app, ['alpha']);
    if (a === undefined) throw new Error('a client');
    const approve = await bearer(site, 'approve');
    const read = await bearer(site, 'read');
    const publish = await bearer(site, 'publish');

    const created = await request(app)
      .post('/v1/groups')
      .set('Authorization', approve)
      .send({ name: 'ring 1' });
    t.is(created.status, 201, created.text);
    t.deepEqual(created.body, { name: 'ring 1', builtin: false, members: 0 });
    t.is(
      (await request(app).post('/v1/groups').set('Authorization', read).send({ name: 'x' })).status,
      403,
    );
    const bad = await request(app)
      .post('/v1/groups')
      .set('Authorization', approve)
      .send({ nam: 'x' });
    t.is(bad.status, 400);
    t.regex(bad.body.error.message, /^nam: unknown field/);
    const missing = await request(app).post('/v1/groups').set('Authorization', approve).send({});
    t.is(missing.status, 400);
    t.regex(missing.body.error.message, /^name: /);

    const members = await request(app)
      .post('/v1/groups/ring%201/members')
      .set('Authorization', approve)
      .send({ clientIds: ['ALPHA'] });
    t.is(members.status, 200, members.text);
    t.deepEqual(members.body, {
      group: 'ring 1',
      clients: [{ clientId: a.clientId, added: true }],
    });
    const badMembers = await request(app)
      .post('/v1/groups/ring%201/members')
      .set('Authorization', approve)
      .send({ clientIds: 'alpha' });
    t.is(badMembers.status, 400);
    t.regex(badMembers.body.error.message, /clientIds/);

    // Every group once over pages of 1; a matching If-None-Match is a 304.
    const names: string[] = [];
    let cursor: string | undefined;
    for (let i = 0; i < 10; i++) {
      const res = await request(app)
        .get('/v1/groups')
        .query({ limit: 1, ...(cursor === undefined ? {} : { cursor }) })
        .set('Authorization', read);
      t.is(res.status, 200, res.text);
      names.push(...(res.body.groups as Array<{ name: string }>).map((g) => g.name));
      cursor = res.body.next ?? undefined;
      if (cursor === undefined) break;
    }
    t.deepEqual(names, ['All Computers', 'Unassigned', 'ring 1']);
    const first = await request(app).get('/v1/groups').set('Authorization', publish);
    t.is(first.status, 200, 'every scope reads');
    t.like(first.body.groups[2], { name: 'ring 1', members: 1 });
    const again = await request(app)
      .get('/v1/groups')
      .set('Authorization', read)
      .set('If-None-Match', first.headers['etag'] as string);
    t.is(again.status, 304);
    t.is(
      (await request(app).get('/v1/groups').query({ cursor: 'nope' }).set('Authorization', read))
        .status,
      400,
    );

    const shown = await request(app).get('/v1/groups/ring%201').set('Authorization', read);
    t.is(shown.status, 200);
    t.like(shown.body, { name: 'ring 1', members: 1, deployments: 0, next: null });
    t.is(shown.body.clients[0].clientId, a.clientId);
    t.is((await request(app).get('/v1/groups/nope').set('Authorization', read)).status, 404);

    const renamed = await request(app)
      .patch('/v1/groups/ring%201')
      .set('Authorization', approve)
      .send({ name: 'ring-1' });
    t.is(renamed.status, 200, renamed.text);
    t.like(renamed.body, { name: 'ring-1', members: 1 });
    const badRename = await request(app)
      .patch('/v1/groups/ring-1')
      .set('Authorization', approve)
      .send({ name: '' });
    t.is(badRename.status, 400);
    t.regex(badRename.body.error.message, /name/);

    const out = await request(app)
      .delete(`/v1/groups/ring-1/members/${a.clientId.slice(0, 8)}`)
      .set('Authorization', approve);
    t.is(out.status, 200, out.text);
    t.deepEqual(out.body, { group: 'ring-1', clientId: a.clientId });

    const u = await publishBytes(site, 'p1', fileManifest('a.bin'), 'a.bin');
    await site.deployments.approve(
      { updateId: u.updateId, group: 'ring-1', action: 'install' },
      'test',
    );
    t.is(
      (await request(app).delete('/v1/groups/ring-1').set('Authorization', approve)).status,
      409,
    );
    t.is(
      (await request(app).delete('/v1/groups/ring-1?force=maybe').set('Authorization', approve))
        .status,
      400,
    );
    const gone = await request(app)
      .delete('/v1/groups/ring-1?force=true')
      .set('Authorization', approve);
    t.is(gone.status, 200, gone.text);
    t.like(gone.body, { name: 'ring-1', removedDeployments: 1 });
    t.is(
      (await request(app).delete('/v1/groups/All%20Computers').set('Authorization', approve))
        .status,
      400,
    );
  },
);
