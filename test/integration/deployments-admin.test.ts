import type { Express } from 'express';
import request from 'supertest';
import type { Site } from '../../src/app.js';
import { createApp } from '../../src/server/app.js';
import { inRollout } from '../../src/site/rollout.js';
import type { SignedPolicy } from '../../src/sync/sync-service.js';
import { register, registration } from '../helpers/clients.js';
import { fileManifest, publishBytes } from '../helpers/publish.js';
import { dbTest } from '../helpers/site.js';
import { bearer } from '../helpers/tokens.js';

interface Synced {
  status: number;
  policy: SignedPolicy['signed'] | undefined;
  anchor: string | undefined;
}

/** One sync of a client, with or without its last anchor (as the agent does). */
async function sync(app: Express, secret: string, anchor?: string): Promise<Synced> {
  const res = await request(app)
    .get('/v1/sync')
    .query(anchor === undefined ? {} : { anchor })
    .set('Authorization', `Bearer ${secret}`);
  const body = res.body as { policy?: SignedPolicy; anchor?: string };
  return {
    status: res.status,
    policy: body.policy?.signed,
    anchor: body.anchor ?? (res.headers['x-upcat-anchor'] as string | undefined),
  };
}

async function approvedClient(
  site: Site,
  app: Express,
  hw: string,
): Promise<{ clientId: string; secret: string }> {
  site.config.site.approval = 'auto-all';
  const r = await register(app, registration({ hardwareId: hw, name: hw }));
  return { clientId: r.body.clientId, secret: r.body.secret };
}

const codeOf = (err: unknown): string | undefined => (err as { code?: string }).code;

dbTest(
  'deployments: a changed deadline and percentage reach a syncing client, a removed one leaves its policy',
  async (t, { site }) => {
    const app = createApp(site);
    // Watch for changes as a server does, so the in-memory caches are in play too.
    await site.changes.start(60_000);
    t.teardown(() => site.changes.stop());
    const client = await approvedClient(site, app, 'hw-1');
    const u = await publishBytes(site, 'p1', fileManifest('a.bin'), 'a.bin');
    const d = await site.deployments.approve(
      { updateId: u.updateId, group: 'All Computers', action: 'install' },
      'test',
    );
    t.true(Number.isInteger(d.id) && d.id > 0);
    const first = await sync(app, client.secret);
    t.is(first.status, 200);
    t.like(first.policy?.deployments[0], { updateId: u.updateId, deadline: null });
    t.is((await sync(app, client.secret, first.anchor)).status, 304);

    const changed = await site.deployments.change(d.id, { deadline: '2031-02-03' }, 'test');
    t.is(changed.deadline, '2031-02-03T00:00:00.000Z');
    t.true(changed.catalogVersion > d.catalogVersion);
    const afterDeadline = await sync(app, client.secret, first.anchor);
    t.is(afterDeadline.status, 200);
    t.like(afterDeadline.policy?.deployments[0], {
      updateId: u.updateId,
      deadline: '2031-02-03T00:00:00.000Z',
    });

    // The same values again: no new catalog version, no audit row.
    const same = await site.deployments.change(d.id, { deadline: '2031-02-03T00:00:00Z' }, 'test');
    t.is(same.catalogVersion, changed.catalogVersion);

    // A percentage that leaves this client out of the rollout takes the update out of its policy.
    const out = [1, 2, 5, 10, 25, 50, 75, 99].find(
      (p) => !inRollout(client.clientId, u.updateId, p),
    );
    if (out === undefined) throw new Error('the client is in every rollout percentage');
    await site.deployments.change(d.id, { percentage: out }, 'test');
    const afterPercent = await sync(app, client.secret, afterDeadline.anchor);
    t.is(afterPercent.status, 200);
    t.deepEqual(afterPercent.policy?.removed, [u.updateId]);
    await site.deployments.change(d.id, { percent: 100, deadline: null }, 'test');
    const back = await sync(app, client.secret, afterPercent.anchor);
    t.like(back.policy?.deployments[0], { updateId: u.updateId, deadline: null });

    const removed = await site.deployments.remove(d.id, 'test');
    t.like(removed, { id: d.id, updateId: u.updateId, group: 'All Computers' });
    const afterRemove = await sync(app, client.secret, back.anchor);
    t.is(afterRemove.status, 200);
    t.deepEqual(afterRemove.policy?.removed, [u.updateId]);
    t.deepEqual((await sync(app, client.secret)).policy?.deployments, []);
    t.is(codeOf(await t.throwsAsync(site.deployments.remove(d.id, 'test'))), 'not_found');

    const audit = (await site.audit.list({})).entries
      .filter((e) => e.action.startsWith('deployment.'))
      .map((e) => e.action);
    t.deepEqual(audit, [
      'deployment.approve',
      'deployment.change',
      'deployment.change',
      'deployment.change',
      'deployment.remove',
    ]);
  },
);

dbTest('deployments: change refuses bad input, naming the field', async (t, { site }) => {
  const u = await publishBytes(site, 'p1', fileManifest('a.bin'), 'a.bin');
  const d = await site.deployments.approve(
    { updateId: u.updateId, group: 'All Computers', action: 'install' },
    'test',
  );
  for (const [input, field] of [
    [{}, /deadline/],
    [{ percentage: 0 }, /percentage/],
    [{ percent: 101 }, /percent/],
    [{ percent: 50, percentage: 50 }, /percentage/],
    [{ deadline: '2030-01-01T08:00' }, /deadline/],
    [{ deadline: 5 }, /deadline/],
    [{ action: 'uninstall' }, /action: unknown field/],
  ] as const) {
    const err = await t.throwsAsync(site.deployments.change(d.id, input, 'test'));
    t.is(codeOf(err), 'invalid_input', JSON.stringify(input));
    t.regex(err?.message ?? '', field);
  }
  t.is(
    codeOf(await t.throwsAsync(site.deployments.change(d.id + 1000, { percent: 5 }, 'test'))),
    'not_found',
  );
  t.like((await site.deployments.list())[0], { percent: 100, deadline: null });
});

dbTest(
  'deployments API: filters, paging returns every row once, ETag, PATCH and DELETE',
  async (t, { site }) => {
    const app = createApp(site);
    const read = await bearer(site, 'read');
    const approve = await bearer(site, 'approve');
    await site.groups.create('ring1', 'test');
    const ids: number[] = [];
    const updates: string[] = [];
    for (let i = 0; i < 4; i++) {
      const u = await publishBytes(
        site,
        `p${i}`,
        fileManifest(`f${i}.bin`, { product: `P${i}`, version: '1.0' }),
        `f${i}.bin`,
      );
      updates.push(u.updateId);
      for (const group of ['All Computers', 'ring1'])
        ids.push(
          (
            await site.deployments.approve(
              { updateId: u.updateId, group, action: i % 2 === 0 ? 'install' : 'optional' },
              'test',
            )
          ).id,
        );
    }
    const pages: number[][] = [];
    let cursor: string | undefined;
    for (let i = 0; i < 10; i++) {
      const res = await request(app)
        .get('/v1/deployments')
        .query({ limit: 3, ...(cursor === undefined ? {} : { cursor }) })
        .set('Authorization', read);
      t.is(res.status, 200, res.text);
      pages.push((res.body.deployments as Array<{ id: number }>).map((d) => d.id));
      cursor = res.body.next ?? undefined;
      if (cursor === undefined) break;
    }
    t.deepEqual(
      pages.map((p) => p.length),
      [3, 3, 2],
    );
    t.deepEqual(
      pages.flat(),
      [...ids].sort((a, b) => a - b),
      'every row once, in ID order',
    );

    const filtered = await request(app)
      .get('/v1/deployments')
      .query({ group: 'ring1', action: 'install' })
      .set('Authorization', read);
    t.deepEqual(
      (filtered.body.deployments as Array<{ updateId: string; group: string }>).map((d) => [
        d.updateId,
        d.group,
      ]),
      [
        [updates[0], 'ring1'],
        [updates[2], 'ring1'],
      ],
    );
    t.is(filtered.body.next, null);
    const byUpdate = await request(app)
      .get('/v1/deployments')
      .query({ updateId: updates[1]?.toUpperCase() })
      .set('Authorization', read);
    t.is(byUpdate.body.deployments.length, 2);

    for (const [query, field] of [
      [{ action: 'reinstall' }, /^invalid deployments query: action/],
      [{ updateId: 'x' }, /updateId/],
      [{ limit: '0' }, /^limit/],
      [{ cursor: 'garbage' }, /^cursor/],
      [{ colour: 'red' }, /colour: unknown field/],
    ] as const) {
      const res = await request(app).get('/v1/deployments').query(query).set('Authorization', read);
      t.is(res.status, 400, JSON.stringify(query));
      t.regex(res.body.error.message, field);
    }

    const etag = filtered.headers['etag'] as string;
    const notModified = await request(app)
      .get('/v1/deployments')
      .query({ group: 'ring1', action: 'install' })
      .set('Authorization', read)
      .set('If-None-Match', etag);
    t.is(notModified.status, 304);

    const target = ids[1] ?? 0;
    t.is(
      (
        await request(app)
          .patch(`/v1/deployments/${target}`)
          .set('Authorization', read)
          .send({ percentage: 50 })
      ).status,
      403,
    );
    const patched = await request(app)
      .patch(`/v1/deployments/${target}`)
      .set('Authorization', approve)
      .send({ percentage: 50, deadline: '2032-01-01T08:00+02:00' });
    t.is(patched.status, 200, patched.text);
    t.like(patched.body, { id: target, percent: 50, deadline: '2032-01-01T06:00:00.000Z' });
    const changedList = await request(app)
      .get('/v1/deployments')
      .query({ group: 'ring1', action: 'install' })
      .set('Authorization', read)
      .set('If-None-Match', etag);
    t.is(changedList.status, 200, 'a change is a new ETag');

    const badId = await request(app)
      .patch('/v1/deployments/abc')
      .set('Authorization', approve)
      .send({ percent: 5 });
    t.is(badId.status, 400);
    t.regex(badId.body.error.message, /^id: /);
    const badBody = await request(app)
      .patch(`/v1/deployments/${target}`)
      .set('Authorization', approve)
      .send({ percentage: 'half' });
    t.is(badBody.status, 400);
    t.regex(badBody.body.error.message, /percentage/);

    const del = await request(app)
      .delete(`/v1/deployments/${target}`)
      .set('Authorization', approve);
    t.is(del.status, 200, del.text);
    t.like(del.body, { id: target, group: 'ring1' });
    t.is(
      (await request(app).delete(`/v1/deployments/${target}`).set('Authorization', approve)).status,
      404,
    );
    t.false((await site.deployments.list()).some((d) => d.id === target));
  },
);
