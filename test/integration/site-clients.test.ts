import request from 'supertest';
import { createApp } from '../../src/server/app.js';
import { createEnrollmentToken } from '../../src/site/enrollment.js';
import { register, registration } from '../helpers/clients.js';
import { dbTest } from '../helpers/site.js';

dbTest(
  'registration answers clientId, secret and status; the secret is stored hashed',
  async (t, { site }) => {
    site.config.site.approval = 'auto-all';
    const app = createApp(site);
    const res = await register(app, registration({ group: 'no-such-group' }));
    t.is(res.status, 201);
    t.regex(res.body.clientId, /^[0-9a-f-]{36}$/);
    t.is(res.body.status, 'approved');
    const row = (await site.db('clients').where({ client_id: res.body.clientId }).first()) as {
      secret_hash: string;
    };
    t.not(row.secret_hash, res.body.secret);
    t.false(row.secret_hash.includes(res.body.secret.split('.')[1] ?? 'x'));
    t.regex(row.secret_hash, /^[0-9a-f]{64}$/);
  },
);

dbTest(
  'approval auto-trusted: pending without a token, approved with an enrollment token',
  async (t, { site }) => {
    const app = createApp(site);
    t.is((await register(app, registration())).body.status, 'pending');
    const { token } = await createEnrollmentToken(site.db, { name: 'lab', actor: 'test' });
    const trusted = await register(
      app,
      registration({ hardwareId: 'hw-2', enrollmentToken: token }),
    );
    t.is(trusted.body.status, 'approved');
    const bad = await register(app, registration({ hardwareId: 'hw-3', enrollmentToken: 'nope' }));
    t.is(bad.status, 401);
    t.is(bad.body.error?.code, 'unauthorized');
    t.regex(bad.body.error?.message ?? '', /enrollmentToken/);
    site.config.site.approval = 'manual';
    const manual = await register(
      app,
      registration({ hardwareId: 'hw-4', enrollmentToken: token }),
    );
    t.is(manual.body.status, 'pending');
    const approved = await site.clients.approve(manual.body.clientId, 'test');
    t.is(approved.status, 'approved');
  },
);

dbTest(
  'duplicate hardware ID, auto: the new record wins, the old is obsolete and linked',
  async (t, { site }) => {
    const app = createApp(site);
    const first = await register(app, registration());
    const second = await register(app, registration());
    t.is(second.status, 201);
    t.not(second.body.clientId, first.body.clientId);
    const old = await site.clients.get(first.body.clientId);
    t.is(old.recordState, 'obsolete');
    t.is(old.replacedBy, second.body.clientId);
    t.is((await site.clients.get(second.body.clientId)).recordState, 'active');
    // The replaced record's secret no longer authenticates.
    const sync = await request(app)
      .get('/v1/sync')
      .set('Authorization', `Bearer ${first.body.secret}`);
    t.is(sync.status, 401);
  },
);

dbTest(
  'duplicate hardware ID, manual: held in conflict until resolved (merge, new, block)',
  async (t, { site }) => {
    site.config.site.duplicateHardwareId = 'manual';
    site.config.site.approval = 'auto-all';
    const app = createApp(site);
    await site.groups.create('Ring 1', 'test');
    const first = await register(app, registration());
    await site.groups.addClient('Ring 1', first.body.clientId, 'test');
    const dup = await register(app, registration());
    t.is(dup.body.status, 'conflict');
    const conflicts = await site.clients.conflicts();
    t.is(conflicts.length, 1);
    t.is(conflicts[0]?.duplicates?.clientId, first.body.clientId);

    const merged = await site.clients.resolve(dup.body.clientId, 'merge', 'test');
    t.is(merged.recordState, 'active');
    t.deepEqual(merged.groups, ['Ring 1']);
    t.is((await site.clients.get(first.body.clientId)).recordState, 'obsolete');

    const dup2 = await register(app, registration());
    t.is(dup2.body.status, 'conflict');
    const asNew = await site.clients.resolve(dup2.body.clientId, 'new', 'test');
    t.is(asNew.recordState, 'active');
    t.is((await site.clients.get(merged.clientId)).recordState, 'active');

    const dup3 = await register(app, registration({ hardwareId: 'hw-9' }));
    const dup4 = await register(app, registration({ hardwareId: 'hw-9' }));
    t.is(dup3.body.status, 'approved');
    await site.clients.resolve(dup4.body.clientId, 'block', 'test');
    const again = await register(app, registration({ hardwareId: 'hw-9' }));
    t.is(again.status, 403);
    t.is(again.body.error?.code, 'client_blocked');
    const err = await t.throwsAsync(site.clients.resolve(dup3.body.clientId, 'new', 'test'));
    t.is((err as { code?: string }).code, 'conflict');
  },
);

dbTest(
  're-registering with its own ID and secret is not a conflict; another hardware ID is a clone',
  async (t, { site }) => {
    site.config.site.duplicateHardwareId = 'manual';
    site.config.site.approval = 'auto-all';
    const app = createApp(site);
    const first = await register(app, registration());
    const again = await register(app, registration({ name: 'renamed' }), first.body.secret);
    t.is(again.status, 201);
    t.is(again.body.clientId, first.body.clientId);
    t.is(again.body.status, 'approved');
    t.is((await site.clients.get(first.body.clientId)).name, 'renamed');
    t.is((await site.clients.list()).length, 1);

    const clone = await register(app, registration({ hardwareId: 'hw-clone' }), first.body.secret);
    t.is(clone.status, 201);
    t.not(clone.body.clientId, first.body.clientId);
    const original = await site.clients.get(first.body.clientId);
    t.true(original.cloneSuspected);
    const cloned = await site.clients.get(clone.body.clientId);
    t.is(cloned.clonedFrom, first.body.clientId);
    t.true(cloned.cloneSuspected);

    const wrong = await register(app, registration(), `${first.body.clientId}.${'A'.repeat(43)}`);
    t.is(wrong.status, 401);
    t.is(wrong.body.error?.code, 'unauthorized');
  },
);

dbTest(
  're-registration is audited: who, how, a group joined, a new secret',
  async (t, { site }) => {
    site.config.site.approval = 'auto-all';
    const app = createApp(site);
    await site.groups.create('Ring 1', 'test');
    const first = await register(app, registration());
    const again = await register(app, registration({ group: 'Ring 1' }), first.body.secret);
    t.is(again.body.clientId, first.body.clientId);
    const rows = (await site
      .db('audit_log')
      .where({ action: 'client.reregister', target: first.body.clientId })
      .select('actor', 'detail', 'source')) as Array<{
      actor: string;
      detail: string;
      source: string | null;
    }>;
    t.is(rows.length, 1);
    t.is(rows[0]?.actor, `client:${first.body.clientId}`);
    t.truthy(rows[0]?.source, 'the caller address');
    t.deepEqual(JSON.parse(rows[0]?.detail ?? '{}'), {
      hardwareId: 'hw-0001',
      status: 'approved',
      by: 'secret',
      newSecret: false,
      joinedGroup: 'Ring 1',
      certificateSerial: null,
    });
    // A refused re-registration (a clone) writes no re-registration row.
    await register(app, registration({ hardwareId: 'hw-other' }), first.body.secret);
    t.is(
      (await site.db('audit_log').where({ action: 'client.reregister' }).select('id')).length,
      1,
    );
  },
);

for (const mode of ['auto', 'manual'] as const) {
  dbTest(
    `100 concurrent registrations over 10 hardware IDs end as policy ${mode} says`,
    async (t, { site }) => {
      site.config.site.duplicateHardwareId = mode;
      const app = createApp(site);
      const answers = await Promise.all(
        Array.from({ length: 100 }, (_, i) =>
          register(app, registration({ hardwareId: `hw-${i % 10}`, name: `pc-${i}` })),
        ),
      );
      t.true(answers.every((a) => a.status === 201));
      const all = await site.clients.list();
      t.is(all.length, 100);
      for (let h = 0; h < 10; h++) {
        const mine = all.filter((c) => c.hardwareId === `hw-${h}`);
        const active = mine.filter((c) => c.recordState === 'active');
        t.is(active.length, 1, `hw-${h} has one active record`);
        if (mode === 'auto') {
          t.is(mine.filter((c) => c.recordState === 'obsolete').length, 9);
          // The obsolete records form one chain that ends at the active one.
          const ids = new Set(mine.map((c) => c.clientId));
          t.true(
            mine
              .filter((c) => c.recordState === 'obsolete')
              .every((c) => c.replacedBy !== null && ids.has(c.replacedBy)),
          );
        } else {
          const conflicts = mine.filter((c) => c.recordState === 'conflict');
          t.is(conflicts.length, 9);
          t.true(conflicts.every((c) => c.conflictWith === active[0]?.clientId));
        }
      }
    },
  );
}

dbTest(
  'compatibility: old clients and foreign protocol majors are refused, nothing stored',
  async (t, { site }) => {
    site.config.site.minimumClientVersion = '2.0';
    site.config.site.protocolVersions = ['1.0', '1.1'];
    const app = createApp(site);
    const old = await register(app, registration({ clientVersion: '1.9.9' }));
    t.is(old.status, 409);
    t.is(old.body.error?.code, 'incompatible_site');
    t.regex(old.body.error?.message ?? '', /2\.0/);
    const proto = await register(
      app,
      registration({ clientVersion: '2.0', protocolVersion: '2.0' }),
    );
    t.is(proto.body.error?.code, 'incompatible_site');
    t.regex(proto.body.error?.message ?? '', /1\.0, 1\.1/);
    t.is((await site.clients.list()).length, 0);
    t.is(
      (await register(app, registration({ clientVersion: '2.0.1', protocolVersion: '1.7' })))
        .status,
      201,
    );
  },
);

dbTest(
  'bad registrations get a 4xx with a code naming the field, never a 500',
  async (t, { site }) => {
    const app = createApp(site);
    const cases: Array<[string | Record<string, unknown>, RegExp]> = [
      [registration({ hardwareId: '' }), /hardwareId/],
      [registration({ hardwareId: 'x'.repeat(129) }), /hardwareId/],
      [registration({ clientVersion: 'one' }), /clientVersion/],
      [registration({ architecture: 'x 64' }), /architecture/],
      [registration({ extra: 1 }), /extra/],
      [registration({ name: 42 }), /name/],
      [{}, /hardwareId/],
      ['not json at all', /./],
    ];
    for (const [body, field] of cases) {
      const req = request(app).post('/v1/clients');
      const res =
        typeof body === 'string'
          ? await req.set('Content-Type', 'application/json').send(body)
          : await req.send(body);
      t.true(res.status >= 400 && res.status < 500, `${JSON.stringify(body)} -> ${res.status}`);
      t.is(typeof res.body.error?.code, 'string');
      t.regex(res.body.error?.message ?? '', field);
    }
    const huge = await request(app)
      .post('/v1/clients')
      .send(registration({ name: 'x'.repeat(40_000) }));
    t.is(huge.status, 413);
    t.is(huge.body.error.code, 'too_large');
    const badAuth = await request(app)
      .post('/v1/clients')
      .set('Authorization', 'Bearer garbage')
      .send(registration());
    t.is(badAuth.status, 401);
    t.is((await site.clients.list()).length, 0);
  },
);

dbTest(
  'GET /v1/site: protocol versions, TUF root, policy key; sensitive properties only to approved clients',
  async (t, { site }) => {
    site.config.site.installationProperties = {
      SITECODE: { value: 'UPC', sensitive: false },
      JOINKEY: { value: 's3cret', sensitive: true },
    };
    const app = createApp(site);
    const anon = await request(app).get('/v1/site').expect(200);
    t.like(anon.body, {
      siteCode: 'UPC',
      mode: 'mixed',
      protocolVersions: ['1.0'],
      tufRoot: '/tuf/root.json',
    });
    t.deepEqual(anon.body.installationProperties, { SITECODE: 'UPC' });
    t.regex(anon.body.policyKey.keyval.public, /^[0-9a-f]{64}$/);
    const pending = await register(app, registration());
    const asPending = await request(app)
      .get('/v1/site')
      .set('Authorization', `Bearer ${pending.body.secret}`);
    t.deepEqual(asPending.body.installationProperties, { SITECODE: 'UPC' });
    await site.clients.approve(pending.body.clientId, 'test');
    const asApproved = await request(app)
      .get('/v1/site')
      .set('Authorization', `Bearer ${pending.body.secret}`);
    t.deepEqual(asApproved.body.installationProperties, { SITECODE: 'UPC', JOINKEY: 's3cret' });
  },
);
