import type { Express } from 'express';
import request from 'supertest';
import { createApp } from '../../src/server/app.js';
import { createEnrollmentToken } from '../../src/site/enrollment.js';
import { register, registration } from '../helpers/clients.js';
import { fileManifest, publishBytes } from '../helpers/publish.js';
import { dbTest } from '../helpers/site.js';
import { bearer } from '../helpers/tokens.js';

/**
 * Identity and evidence that fail safe (issue 13 items 4 and 7): who counts in promotion and
 * reports, and what a duplicate hardware ID may do to an approved machine's record.
 */

let seq = 0;
async function post(
  app: Express,
  secret: string,
  updateId: string,
  state: string,
  revision = 1,
): Promise<void> {
  seq += 1;
  await request(app)
    .post('/v1/status')
    .set('Authorization', `Bearer ${secret}`)
    .send({
      messages: [
        {
          id: `e-${seq}`,
          topic: 'update',
          updateId,
          revision,
          state,
          time: new Date(Date.UTC(2025, 0, 1, 0, 0, seq)).toISOString(),
        },
      ],
    })
    .expect(202);
}

dbTest(
  'promotion and reports: 19 pending clients naming a ring are not evidence; blocked, replaced and other groups neither',
  async (t, { site }) => {
    const app = createApp(site);
    await site.groups.create('ring1', 'test');
    await site.groups.create('ring2', 'test');
    const a = await publishBytes(site, 'a1', fileManifest('a.bin'), 'a.bin');
    await site.deployments.approve(
      { updateId: a.updateId, group: 'ring1', action: 'install' },
      'test',
    );
    // Anyone can register (pending, default approval) naming ring1 and post `installed`.
    for (let i = 0; i < 19; i += 1) {
      const c = (await register(app, registration({ hardwareId: `hw-p${i}`, group: 'ring1' })))
        .body;
      t.is(c.status, 'pending');
      await post(app, c.secret, a.updateId, 'installed');
    }
    const auth = await bearer(site, 'approve');
    const promote = (): request.Test =>
      request(app)
        .post('/v1/promotions')
        .set('Authorization', auth)
        .send({ updateId: a.updateId, from: 'ring1', to: 'ring2' });
    const refused = await promote();
    t.is(refused.status, 409, 'pending clients prove nothing');
    t.regex(refused.body.error.message, /no client has reported/);
    const [row] = await site.reports.revisions();
    t.like(row, { group: 'ring1', installed: 0, pending: 0 });

    // One approved member that failed, and an approved one that is then blocked: still no pass.
    site.config.site.approval = 'auto-all';
    const good = (await register(app, registration({ hardwareId: 'hw-g', group: 'ring1' }))).body;
    const blocked = (await register(app, registration({ hardwareId: 'hw-b', group: 'ring1' })))
      .body;
    const outsider = (await register(app, registration({ hardwareId: 'hw-o' }))).body;
    await post(app, good.secret, a.updateId, 'failed');
    await post(app, blocked.secret, a.updateId, 'installed');
    await post(app, outsider.secret, a.updateId, 'installed');
    await site.clients.block(blocked.clientId, 'test');
    const low = await promote();
    t.is(low.status, 409);
    t.like(low.body.error, { code: 'conflict' });
    t.regex(low.body.error.message, /0% installed \(0 of 1 reporting\)/);
    t.like((await site.reports.revisions())[0], { installed: 0, failed: 1, pending: 0 });

    await post(app, good.secret, a.updateId, 'installed');
    const passed = await promote();
    t.is(passed.status, 201);
    t.like(passed.body.evidence, { installed: 1, failed: 0, reporting: 1 });
  },
);

dbTest(
  'promotion counts only the clients inside the source rollout percentage',
  async (t, { site }) => {
    site.config.site.approval = 'auto-all';
    const app = createApp(site);
    await site.groups.create('ring1', 'test');
    await site.groups.create('ring2', 'test');
    const a = await publishBytes(site, 'a1', fileManifest('a.bin'), 'a.bin');
    const cs = [];
    for (let i = 0; i < 20; i += 1)
      cs.push((await register(app, registration({ hardwareId: `hw-${i}`, group: 'ring1' }))).body);
    await site.deployments.approve(
      { updateId: a.updateId, group: 'ring1', action: 'install', percent: 30 },
      'test',
    );
    const inside = (await site.db('clients').select('client_id')) as Array<{ client_id: string }>;
    const { inRollout } = await import('../../src/site/rollout.js');
    const inRing = new Set(
      inside.map((c) => c.client_id).filter((id) => inRollout(id, a.updateId, 30)),
    );
    t.true(inRing.size > 0 && inRing.size < 20);
    // Outside the rollout: installed (they were not asked to). Inside: failed.
    for (const c of cs)
      await post(app, c.secret, a.updateId, inRing.has(c.clientId) ? 'failed' : 'installed');
    const err = await t.throwsAsync(
      site.promotions.promote({ updateId: a.updateId, from: 'ring1', to: 'ring2' }, 'test'),
    );
    t.regex(err?.message ?? '', new RegExp(`\\(0 of ${inRing.size} reporting\\)`));
  },
);

dbTest(
  'POST /v1/promotions: a NUL byte in a group name is a 400, not a 500',
  async (t, { site }) => {
    const app = createApp(site);
    const a = await publishBytes(site, 'a1', fileManifest('a.bin'), 'a.bin');
    const auth = await bearer(site, 'approve');
    for (const field of ['from', 'to']) {
      const res = await request(app)
        .post('/v1/promotions')
        .set('Authorization', auth)
        .send({ updateId: a.updateId, from: 'ring1', to: 'ring2', [field]: 'ri\u0000ng' });
      t.is(res.status, 400, field);
      t.is(res.body.error.code, 'invalid_input');
      t.regex(res.body.error.message, new RegExp(`${field}: must not hold control characters`));
    }
  },
);

dbTest(
  'reports: one row per group; obsolete and conflict records not counted; a metadata-only revision keeps its counts',
  async (t, { site }) => {
    site.config.site.approval = 'auto-all';
    const app = createApp(site);
    await site.groups.create('ring1', 'test');
    await site.groups.create('ring2', 'test');
    const r1 = (await register(app, registration({ hardwareId: 'hw-1', group: 'ring1' }))).body;
    await register(app, registration({ hardwareId: 'hw-2', group: 'ring2' }));
    const a = await publishBytes(site, 'a1', fileManifest('a.bin'), 'a.bin');
    for (const group of ['ring1', 'ring2'])
      await site.deployments.approve({ updateId: a.updateId, group, action: 'install' }, 'test');
    await post(app, r1.secret, a.updateId, 'installed');
    const rows = await site.reports.revisions();
    t.deepEqual(
      rows.map((r) => [r.group, r.installed, r.pending]),
      [
        ['ring1', 1, 0],
        ['ring2', 0, 1],
      ],
    );

    // A description-only revision: same payload, handler and rules.
    const b = await publishBytes(
      site,
      'a1',
      fileManifest('a.bin', { updateId: a.updateId, description: 'now with a better text' }),
      'a.bin',
    );
    t.is(b.updateId, a.updateId);
    t.is(b.revision, 2);
    t.deepEqual(
      (await site.reports.revisions()).map((r) => [r.revision, r.group, r.installed, r.pending]),
      [
        [2, 'ring1', 1, 0],
        [2, 'ring2', 0, 1],
      ],
    );
    // A promotion from ring1 has that evidence too.
    const p = await site.promotions.promote(
      { updateId: a.updateId, from: 'ring1', to: 'ring2' },
      'test',
    );
    t.like(p.evidence, { revision: 2, installed: 1 });
    // A revision with another payload starts over.
    const c = await publishBytes(
      site,
      'a2',
      fileManifest('a.bin', { updateId: a.updateId, version: '1.1', description: 'new bytes' }),
      'a.bin',
    );
    t.is(c.revision, 3);
    t.like((await site.reports.revisions())[0], { revision: 3, installed: 0, pending: 1 });

    // An enrollment-token registration of hw-1 replaces r1: the replaced record stops counting.
    await post(app, r1.secret, a.updateId, 'installed', 3);
    t.like((await site.reports.revisions())[0], { installed: 1 });
    const { token } = await createEnrollmentToken(site.db, { name: 'lab', actor: 'test' });
    await register(app, registration({ hardwareId: 'hw-1', enrollmentToken: token }));
    t.like((await site.reports.revisions())[0], { installed: 0 });
  },
);

dbTest(
  'duplicate hardware ID, auto: an anonymous registration does not replace an approved machine; proof does',
  async (t, { site }) => {
    site.config.site.approval = 'auto-all';
    const app = createApp(site);
    const first = (await register(app, registration({ hardwareId: 'hw-x' }))).body;
    t.is(first.status, 'approved');
    const sync = (secret: string): request.Test =>
      request(app).get('/v1/sync').set('Authorization', `Bearer ${secret}`);
    t.is((await sync(first.secret)).status, 200);

    const anon = await register(app, registration({ hardwareId: 'hw-x', name: 'intruder' }));
    t.is(anon.status, 201);
    t.is(anon.body.status, 'conflict');
    t.is((await site.clients.get(first.clientId)).recordState, 'active');
    t.is((await site.clients.get(anon.body.clientId)).conflictWith, first.clientId);
    t.is((await sync(first.secret)).status, 200, 'the approved machine keeps working');
    const audit = (await site
      .db('audit_log')
      .where({ action: 'client.register', target: anon.body.clientId })
      .first('detail')) as { detail: string };
    t.like(JSON.parse(audit.detail), { conflictWith: first.clientId, replaced: [] });

    // Its own secret: a re-registration, never a conflict.
    const again = await register(app, registration({ hardwareId: 'hw-x' }), first.secret);
    t.is(again.body.clientId, first.clientId);

    // An enrollment token proves the machine: the new record replaces the old one, which is
    // told so with a code of its own.
    const { token } = await createEnrollmentToken(site.db, { name: 'lab', actor: 'test' });
    const proven = await register(
      app,
      registration({ hardwareId: 'hw-x', enrollmentToken: token }),
    );
    t.is(proven.body.status, 'approved');
    t.is((await site.clients.get(first.clientId)).recordState, 'obsolete');
    const refused = await sync(first.secret);
    t.is(refused.status, 401);
    t.is(refused.body.error.code, 'client_replaced');
    t.regex(refused.body.error.message, /was replaced by .*register again/);

    // A pending (not approved) record is still replaced by a newer registration.
    site.config.site.approval = 'manual';
    const p1 = (await register(app, registration({ hardwareId: 'hw-y' }))).body;
    const p2 = (await register(app, registration({ hardwareId: 'hw-y' }))).body;
    t.is(p2.status, 'pending');
    t.is((await site.clients.get(p1.clientId)).recordState, 'obsolete');
  },
);
