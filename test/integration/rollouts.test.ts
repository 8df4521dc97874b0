import type { Express } from 'express';
import request from 'supertest';
import type { Site } from '../../src/app.js';
import { createApp } from '../../src/server/app.js';
import { runRolloutPass } from '../../src/site/rollouts-engine.js';
import type { RolloutView } from '../../src/site/rollouts-model.js';
import { register, registration } from '../helpers/clients.js';
import { fileManifest, publishBytes } from '../helpers/publish.js';
import { dbTest } from '../helpers/site.js';
import { bearer } from '../helpers/tokens.js';

interface Client {
  clientId: string;
  secret: string;
}

interface Fixture {
  app: Express;
  updateId: string;
  ring1: Client[];
  ring2: Client[];
}

/** Three clients in ring1, two in ring2, one in ring3; an update deployed nowhere yet. */
async function fixture(site: Site): Promise<Fixture> {
  site.config.site.approval = 'auto-all';
  const app = createApp(site);
  const rings: Record<string, Client[]> = { ring1: [], ring2: [], ring3: [] };
  for (const [group, members] of Object.entries(rings)) {
    await site.groups.create(group, 'test');
    const n = group === 'ring1' ? 3 : group === 'ring2' ? 2 : 1;
    for (let i = 0; i < n; i += 1)
      members.push(
        (await register(app, registration({ hardwareId: `hw-${group}-${i}`, group }))).body,
      );
  }
  const a = await publishBytes(site, 'a1', fileManifest('a.bin'), 'a.bin');
  return { app, updateId: a.updateId, ring1: rings['ring1'] ?? [], ring2: rings['ring2'] ?? [] };
}

let seq = 0;
async function report(app: Express, client: Client, updateId: string, state: string) {
  seq += 1;
  await request(app)
    .post('/v1/status')
    .set('Authorization', `Bearer ${client.secret}`)
    .send({
      messages: [
        {
          id: `r-${seq}`,
          topic: 'update',
          updateId,
          revision: 1,
          state,
          time: new Date(Date.UTC(2025, 0, 1, 0, 0, seq)).toISOString(),
        },
      ],
    })
    .expect(202);
}

const HOUR = 3_600_000;
const later = (ms: number): Date => new Date(Date.now() + ms);
const ringsOf = (v: RolloutView): string[] => v.rings.map((r) => `${r.group}:${r.state}`);

dbTest('rollouts: the engine holds, advances on evidence, and finishes', async (t, { site }) => {
  const { app, updateId, ring1, ring2 } = await fixture(site);
  const created = await site.rollouts.create(
    {
      updateId,
      name: 'contoso',
      deadline: '3d',
      rings: [
        { group: 'ring1', minReporting: 3, minSuccess: 60, wait: '2h' },
        { group: 'ring2', minReporting: 1, wait: '0' },
        { group: 'ring3', percent: 50 },
      ],
    },
    'cli:alice',
  );
  t.is(created.status, 'running');
  t.deepEqual(ringsOf(created), ['ring1:active', 'ring2:pending', 'ring3:pending']);
  const deployed = await site.deployments.list({ updateId });
  t.deepEqual(
    deployed.map((d) => d.group),
    ['ring1'],
    'the first ring is deployed at once, only it',
  );
  // The ring's deadline is the offset after its start.
  const started = Date.parse(created.rings[0]?.startedAt ?? '');
  t.is(Date.parse(deployed[0]?.deadline ?? ''), started + 3 * 24 * HOUR);

  // Within the wait: held, whatever the evidence.
  const [a, b, c] = ring1;
  if (a === undefined || b === undefined || c === undefined) throw new Error('fixture');
  await report(app, a, updateId, 'installed');
  await report(app, b, updateId, 'installed');
  let pass = await site.rollouts.advance(later(HOUR));
  t.deepEqual(pass.advanced, []);
  t.regex(pass.held[0]?.reason ?? '', /waiting until/);

  // After the wait, two of the three needed reporting clients: held, with no audit row.
  const auditBefore = await site.db('audit_log').where('action', 'like', 'rollout.%');
  pass = await site.rollouts.advance(later(3 * HOUR));
  t.regex(pass.held[0]?.reason ?? '', /2 client\(s\) reporting, needs 3/);
  t.is(
    (await site.db('audit_log').where('action', 'like', 'rollout.%')).length,
    auditBefore.length,
    'a hold is not a step',
  );
  const shown = await site.rollouts.show(created.id, later(3 * HOUR));
  t.like(shown.rings[0]?.evidence, { installed: 2, reporting: 2, successRate: 100 });
  t.regex(shown.holding ?? '', /needs 3/);

  // The third reports (2 of 3 = 66.7% >= 60): ring2 starts, by the engine.
  await report(app, c, updateId, 'failed');
  pass = await site.rollouts.advance(later(3 * HOUR));
  t.deepEqual(pass.advanced, [{ id: created.id, ring: 1, done: false }]);
  let view = await site.rollouts.show(created.id);
  t.deepEqual(ringsOf(view), ['ring1:done', 'ring2:active', 'ring3:pending']);
  t.is(view.currentRing, 1);
  t.deepEqual((await site.deployments.list({ updateId })).map((d) => d.group).sort(), [
    'ring1',
    'ring2',
  ]);
  const advance = view.history.find((h) => h.step === 'advance');
  t.is(advance?.by, 'rollout engine');

  // Pause holds it even with good evidence; resume lets it go on.
  const [d] = ring2;
  if (d === undefined) throw new Error('fixture');
  await report(app, d, updateId, 'installed');
  await site.rollouts.pause(created.id, 'cli:bob');
  pass = await site.rollouts.advance(later(3 * HOUR));
  t.is(pass.checked, 0, 'a paused rollout is not looked at');
  await site.rollouts.resume(created.id, 'cli:bob');
  pass = await site.rollouts.advance(later(3 * HOUR));
  t.deepEqual(pass.advanced, [{ id: created.id, ring: 2, done: false }]);
  view = await site.rollouts.show(created.id);
  t.is(view.rings[2]?.percent, 50);
  t.is((await site.deployments.list({ group: 'ring3' }))[0]?.percent, 50);

  // Every step is in the audit log under its actor.
  const audit = (await site
    .db('audit_log')
    .where((w) => w.where('action', 'like', 'rollout.%').orWhere('action', 'deployment.approve'))
    .orderBy('id')
    .select('action', 'actor')) as Array<{ action: string; actor: string }>;
  t.deepEqual(
    audit.map((e) => `${e.action}:${e.actor}`),
    [
      'rollout.create:cli:alice',
      'deployment.approve:cli:alice', // the ring's deployment, detail naming the rollout
      'rollout.ring-start:cli:alice',
      'rollout.advance:rollout engine',
      'deployment.approve:rollout engine',
      'rollout.ring-start:rollout engine',
      'rollout.pause:cli:bob',
      'rollout.resume:cli:bob',
      'rollout.advance:rollout engine',
      'deployment.approve:rollout engine',
      'rollout.ring-start:rollout engine',
    ],
  );
  t.deepEqual(
    view.history.map((h) => h.step),
    ['create', 'ring-start', 'advance', 'ring-start', 'pause', 'resume', 'advance', 'ring-start'],
  );
});

dbTest(
  'rollouts: below the success ratio the rollout fails; stop is final',
  async (t, { site }) => {
    const { app, updateId, ring1 } = await fixture(site);
    const r = await site.rollouts.create(
      { updateId, rings: [{ group: 'ring1', minReporting: 2, wait: '0' }, { group: 'ring2' }] },
      'test',
    );
    t.is(r.name, 'Contoso Tool 1.0', 'named after the update by default');
    const [a, b] = ring1;
    if (a === undefined || b === undefined) throw new Error('fixture');
    await report(app, a, updateId, 'installed');
    await report(app, b, updateId, 'failed');
    const pass = await site.rollouts.advance();
    t.regex(
      pass.failed[0]?.reason ?? '',
      /1 of 2 reporting clients installed \(50\.0%\), below minSuccess 95/,
    );
    let view = await site.rollouts.show(r.id);
    t.is(view.status, 'failed');
    t.deepEqual(
      (await site.deployments.list({ updateId })).map((d) => d.group),
      ['ring1'],
      'ring2 was never deployed',
    );
    // Resume judges again: still below, so it fails again.
    await site.rollouts.resume(r.id, 'test');
    await site.rollouts.advance();
    t.is((await site.rollouts.show(r.id)).status, 'failed');

    view = await site.rollouts.stop(r.id, 'test');
    t.is(view.status, 'stopped');
    t.deepEqual(
      (await site.deployments.list({ updateId })).map((d) => d.group),
      ['ring1'],
      'stop leaves the deployments made',
    );
    const again = await t.throwsAsync(site.rollouts.resume(r.id, 'test'));
    t.is((again as { code?: string }).code, 'conflict');
    await report(app, b, updateId, 'installed');
    t.is((await site.rollouts.advance()).checked, 0, 'a stopped rollout never advances');
  },
);

dbTest('rollouts: one pass at a time under the lease', async (t, { site }) => {
  await fixture(site);
  const { Lease } = await import('../../src/ops/lease.js');
  const other = new Lease(site.db, 'rollout-engine', 60_000);
  t.true(await other.acquire());
  t.is(await runRolloutPass(site), undefined, 'another node holds the lease');
  await other.release();
  t.like(await runRolloutPass(site), { checked: 0 });
});

dbTest('rollouts API: bad input names the field, scopes are enforced', async (t, { site }) => {
  const { app, updateId } = await fixture(site);
  const admin = await bearer(site, 'approve');
  const reader = await bearer(site, 'read');
  const post = (body: unknown, auth = admin) =>
    request(app)
      .post('/v1/rollouts')
      .set('Authorization', auth)
      .send(body as object);

  const cases: Array<[unknown, RegExp]> = [
    [{ rings: [{ group: 'ring1' }] }, /updateId/],
    [{ updateId, rings: [] }, /rings/],
    [
      { updateId, rings: [{ group: 'ring1', percent: 0 }] },
      /rings\.0\.percent|rings\[0\]\.percent/,
    ],
    [{ updateId, rings: [{ group: 'ring1', minSuccess: 101 }] }, /minSuccess/],
    [{ updateId, rings: [{ group: 'ring1', minReporting: 0 }] }, /minReporting/],
    [{ updateId, rings: [{ group: 'ring1', wait: 'soon' }] }, /wait/],
    [{ updateId, deadline: 'tomorrow', rings: [{ group: 'ring1' }] }, /deadline/],
    [{ updateId, action: 'uninstall', rings: [{ group: 'ring1' }] }, /action/],
    [{ updateId, rings: [{ group: 'ring1' }, { group: 'ring1' }] }, /group/],
    [{ updateId, rings: [{ group: 'ring1', extra: 1 }] }, /extra/],
  ];
  for (const [body, field] of cases) {
    const res = await post(body);
    t.is(res.status, 400, JSON.stringify(body));
    t.regex((res.body as { error: { message: string } }).error.message, field);
  }
  const missing = await post({ updateId, rings: [{ group: 'ring1' }, { group: 'nope' }] });
  t.is(missing.status, 404);
  t.regex(missing.body.error.message as string, /rings\[1\]\.group: "nope" does not exist/);
  t.is(
    await site
      .db('rollouts')
      .count({ n: '*' })
      .first()
      .then((r) => Number(r?.n)),
    0,
  );
  t.is((await site.deployments.list({ updateId })).length, 0, 'nothing stored changed');

  t.is((await post({ updateId, rings: [{ group: 'ring1' }] }, reader)).status, 403);
  const made = await post({ updateId, rings: [{ group: 'ring1' }] });
  t.is(made.status, 201);
  const id = (made.body as RolloutView).id;
  t.is(
    (await request(app).post(`/v1/rollouts/${id}/pause`).set('Authorization', reader)).status,
    403,
  );
  t.is(
    (await request(app).post(`/v1/rollouts/${id}/stop`).set('Authorization', reader)).status,
    403,
  );

  const one = await request(app).get(`/v1/rollouts/${id}`).set('Authorization', reader).expect(200);
  t.like(one.body, { id, status: 'running', currentRing: 0 });
  t.like((one.body as RolloutView).rings[0], {
    index: 0,
    group: 'ring1',
    percent: 100,
    minSuccess: 95,
    minReporting: 1,
    wait: '1h',
    state: 'active',
    evidence: { installed: 0, failed: 0, reporting: 0, notApplicable: 0, successRate: 0 },
  });
  const list = await request(app)
    .get('/v1/rollouts?limit=1')
    .set('Authorization', reader)
    .expect(200);
  t.is(list.body.rollouts.length, 1);
  t.is(list.body.next, null);
  t.is(
    (await request(app).get('/v1/rollouts?status=nope').set('Authorization', reader)).status,
    400,
  );
  t.is((await request(app).get('/v1/rollouts/abc').set('Authorization', reader)).status, 400);
  t.is((await request(app).get('/v1/rollouts/999').set('Authorization', reader)).status, 404);
  const stopped = await request(app).post(`/v1/rollouts/${id}/stop`).set('Authorization', admin);
  t.is(stopped.body.status, 'stopped');
  t.is(
    (await request(app).post(`/v1/rollouts/${id}/pause`).set('Authorization', admin)).status,
    409,
  );
});

dbTest('maintenance windows API: set, show, clear; bad input; scopes', async (t, { site }) => {
  const { app } = await fixture(site);
  const admin = await bearer(site, 'approve');
  const reader = await bearer(site, 'read');
  const url = '/v1/groups/ring1/maintenance-window';
  const body = {
    windows: [{ days: ['mon', 'fri'], start: '22:00', duration: '4h' }],
    timezone: '+02:00',
  };

  t.is((await request(app).put(url).set('Authorization', reader).send(body)).status, 403);
  const bad = await request(app)
    .put(url)
    .set('Authorization', admin)
    .send({ windows: [{ days: ['mon'], start: '25:00', duration: '4h' }] });
  t.is(bad.status, 400);
  t.regex(bad.body.error.message as string, /windows\[0\]\.start|windows\.0\.start/);
  t.is(
    (
      await request(app)
        .put('/v1/groups/nope/maintenance-window')
        .set('Authorization', admin)
        .send(body)
    ).status,
    404,
  );

  const version = Number((await site.db('catalog_state').first('version'))?.version);
  const set = await request(app).put(url).set('Authorization', admin).send(body).expect(200);
  t.like(set.body, { group: 'ring1', timezone: '+02:00' });
  t.true(
    Number((await site.db('catalog_state').first('version'))?.version) > version,
    'clients recompute their policy',
  );
  const group = await request(app).get('/v1/groups/ring1').set('Authorization', reader).expect(200);
  t.deepEqual(group.body.maintenanceWindow.windows, body.windows);
  const cleared = await request(app).delete(url).set('Authorization', admin).expect(200);
  t.deepEqual(cleared.body, { group: 'ring1', cleared: true });
  const after = await request(app).get(url).set('Authorization', reader).expect(200);
  t.is(after.body.maintenanceWindow, null);
  const audit = (await site
    .db('audit_log')
    .where('action', 'like', 'group.window.%')
    .orderBy('id')) as Array<{ action: string }>;
  t.deepEqual(
    audit.map((a) => a.action),
    ['group.window.set', 'group.window.clear'],
  );
  // A group with windows can still be deleted; its windows go with it.
  await site.maintenanceWindows.set('ring3', body, 'test');
  await site.groups.remove('ring3', 'test');
  t.is(Number((await site.db('group_maintenance_windows').count({ n: '*' }).first())?.n), 0);
});

dbTest(
  'policy carries the windows of the client groups on install entries only',
  async (t, { site }) => {
    const { updateId, ring1 } = await fixture(site);
    const b = await publishBytes(
      site,
      'b1',
      fileManifest('b.bin', { title: 'B', product: 'Fabrikam Tool' }),
      'b.bin',
    );
    await site.deployments.approve({ updateId, group: 'ring1', action: 'install' }, 'test');
    await site.deployments.approve(
      { updateId: b.updateId, group: 'ring1', action: 'optional' },
      'test',
    );
    const { computePolicy } = await import('../../src/sync/policy.js');
    const { findClient } = await import('../../src/site/client-repo.js');
    const client = await findClient(site.db, ring1[0]?.clientId ?? '');
    if (client === undefined) throw new Error('fixture');
    const before = await computePolicy(site.db, client);
    t.false(
      before.some((e) => 'maintenanceWindows' in e),
      'no windows: the entries are as before',
    );
    await site.maintenanceWindows.set(
      'All Computers',
      { windows: [{ days: ['sun'], start: '01:00', duration: '2h' }] },
      'test',
    );
    await site.maintenanceWindows.set(
      'ring1',
      { windows: [{ days: ['sat'], start: '22:00', duration: '4h' }], timezone: '-05:00' },
      'test',
    );
    const policy = await computePolicy(site.db, client);
    const install = policy.find((e) => e.updateId === updateId);
    const optional = policy.find((e) => e.updateId === b.updateId);
    t.deepEqual(install?.maintenanceWindows, [
      { days: ['sun'], start: '01:00', duration: '2h', timezone: 'UTC' },
      { days: ['sat'], start: '22:00', duration: '4h', timezone: '-05:00' },
    ]);
    t.is(optional?.maintenanceWindows, undefined);
  },
);

dbTest('promote needs minReporting clients as well as the ratio', async (t, { site }) => {
  const { app, updateId, ring1 } = await fixture(site);
  await site.deployments.approve({ updateId, group: 'ring1', action: 'install' }, 'test');
  const [a] = ring1;
  if (a === undefined) throw new Error('fixture');
  await report(app, a, updateId, 'installed');
  const input = { updateId, from: 'ring1', to: 'ring2', minReporting: 2 };
  const low = await t.throwsAsync(site.promotions.promote(input, 'test'));
  t.is(low?.message, 'ring1: 1 client(s) reported installed or failed, below --min-reporting 2');
  const res = await request(app)
    .post('/v1/promotions')
    .set('Authorization', await bearer(site, 'approve'))
    .send({ ...input, minReporting: 0 });
  t.is(res.status, 400);
  t.regex(res.body.error.message as string, /minReporting/);
  t.like(await site.promotions.promote({ ...input, minReporting: 1 }, 'test'), {
    group: 'ring2',
    evidence: { minReporting: 1, reporting: 1 },
  });
});

dbTest(
  'rollouts: a next ring that cannot be deployed fails the rollout with the reason, and the pass goes on',
  async (t, { site }) => {
    const { app, updateId, ring1 } = await fixture(site);
    const other = await publishBytes(
      site,
      'c1',
      fileManifest('c.bin', { product: 'Fabrikam Other' }),
      'c.bin',
    );
    const doomed = await site.rollouts.create(
      { updateId, rings: [{ group: 'ring1', wait: '0' }, { group: 'ring2' }] },
      'test',
    );
    const fine = await site.rollouts.create(
      { updateId: other.updateId, rings: [{ group: 'ring1', wait: '0' }, { group: 'ring2' }] },
      'test',
    );
    const [a] = ring1;
    if (a === undefined) throw new Error('fixture');
    await report(app, a, updateId, 'installed');
    await report(app, a, other.updateId, 'installed');
    await site.expire.expire(updateId, 'test');
    const pass = await site.rollouts.advance();
    t.is(pass.failed[0]?.id, doomed.id);
    t.regex(pass.failed[0]?.reason ?? '', /expired and cannot be deployed/);
    t.deepEqual(pass.advanced, [{ id: fine.id, ring: 1, done: false }]);
    const view = await site.rollouts.show(doomed.id);
    t.is(view.status, 'failed');
    t.is(view.rings[0]?.state, 'active', 'the failed step left nothing half done');
    t.like(view.history.at(-1), { step: 'fail', by: 'rollout engine' });
  },
);

dbTest(
  'rollouts: only counted clients the ring targets are evidence (not blocked ones, not outsiders)',
  async (t, { site }) => {
    const { app, updateId, ring1, ring2 } = await fixture(site);
    const r = await site.rollouts.create(
      { updateId, rings: [{ group: 'ring1', wait: '0', minReporting: 2 }, { group: 'ring2' }] },
      'test',
    );
    const [a, b] = ring1;
    const [outsider] = ring2;
    if (a === undefined || b === undefined || outsider === undefined) throw new Error('fixture');
    await report(app, a, updateId, 'installed');
    await report(app, b, updateId, 'installed');
    await report(app, outsider, updateId, 'installed'); // in ring2, not yet targeted
    await site.clients.block(b.clientId, 'test');
    const view = await site.rollouts.show(r.id);
    t.like(view.rings[0]?.evidence, { installed: 1, reporting: 1 });
    t.like(view.rings[1]?.evidence, { installed: 0, reporting: 0 }, 'a pending ring has none');
    const pass = await site.rollouts.advance();
    t.regex(pass.held[0]?.reason ?? '', /1 client\(s\) reporting, needs 2/);
  },
);
