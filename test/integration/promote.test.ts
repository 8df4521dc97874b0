import type { Express } from 'express';
import request from 'supertest';
import type { Site } from '../../src/app.js';
import { createApp } from '../../src/server/app.js';
import { register, registration } from '../helpers/clients.js';
import { fileManifest, publishBytes } from '../helpers/publish.js';
import { dbTest } from '../helpers/site.js';
import { bearer } from '../helpers/tokens.js';

interface Fixture {
  app: Express;
  updateId: string;
  ring1: Array<{ clientId: string; secret: string }>;
  outsider: { clientId: string; secret: string };
}

/** Four clients in ring1, one outside it; the update is deployed to ring1 only. */
async function fixture(site: Site): Promise<Fixture> {
  site.config.site.approval = 'auto-all';
  const app = createApp(site);
  await site.groups.create('ring1', 'test');
  await site.groups.create('ring2', 'test');
  const ring1 = [];
  for (let i = 0; i < 4; i += 1) {
    const c = (await register(app, registration({ hardwareId: `hw-r1-${i}`, group: 'ring1' })))
      .body;
    ring1.push(c);
  }
  const outsider = (await register(app, registration({ hardwareId: 'hw-out' }))).body;
  const a = await publishBytes(site, 'a1', fileManifest('a.bin'), 'a.bin');
  await site.deployments.approve(
    {
      updateId: a.updateId,
      group: 'ring1',
      action: 'install',
      deadline: '2030-01-02T03:04:05Z',
      percent: 100, // every ring1 member is targeted (only targeted clients are evidence)
    },
    'test',
  );
  return { app, updateId: a.updateId, ring1, outsider };
}

let messageSeq = 0;
const timeOf = (n: number): string => new Date(Date.UTC(2025, 0, 1, 0, 0, n)).toISOString();
async function report(
  app: Express,
  client: { secret: string },
  updateId: string,
  state: string,
): Promise<void> {
  messageSeq += 1;
  await request(app)
    .post('/v1/status')
    .set('Authorization', `Bearer ${client.secret}`)
    .send({
      messages: [
        // Distinct send times keep "latest state" well defined within one millisecond.
        {
          id: `m-${messageSeq}`,
          topic: 'update',
          updateId,
          revision: 1,
          state,
          time: timeOf(messageSeq),
        },
      ],
    })
    .expect(202);
}

const codeOf = (err: unknown): string | undefined => (err as { code?: string }).code;

dbTest(
  'promote: refused without evidence and below the threshold, with the figures',
  async (t, { site }) => {
    const { app, updateId, ring1, outsider } = await fixture(site);
    const input = { updateId, from: 'ring1', to: 'ring2' };

    const none = await t.throwsAsync(site.promotions.promote(input, 'test'));
    t.is(codeOf(none), 'conflict');
    t.regex(none?.message ?? '', /ring1: no client has reported installed or failed/);

    const [c0, c1, c2, c3] = ring1;
    if (c0 === undefined || c1 === undefined || c2 === undefined || c3 === undefined) throw 0;
    await report(app, c0, updateId, 'installed');
    await report(app, c1, updateId, 'failed');
    await report(app, c1, updateId, 'installed'); // a retry that worked: its latest state counts
    await report(app, c2, updateId, 'failed');
    await report(app, c3, updateId, 'not_applicable'); // not evidence either way
    await report(app, outsider, updateId, 'failed'); // not in ring1: not counted
    await report(app, outsider, updateId, 'failed');

    const low = await t.throwsAsync(site.promotions.promote({ ...input, minSuccess: 95 }, 'test'));
    t.is(codeOf(low), 'conflict');
    t.is(low?.message, 'ring1: 66.6% installed (2 of 3 reporting), below --min-success 95');
    t.false((await site.deployments.list()).some((d) => d.group === 'ring2'));
    const promotions = await site.db('audit_log').where({ action: 'deployment.promote' });
    t.is(promotions.length, 0, 'a refusal changes nothing and is not audited as a change');

    // At the boundary: 66.67% is below 66.7, and the message must not print "66.7%" (rounded
    // up) beside "below 66.7". It rounds down.
    const boundary = await t.throwsAsync(
      site.promotions.promote({ ...input, minSuccess: 66.7 }, 'test'),
    );
    t.is(boundary?.message, 'ring1: 66.6% installed (2 of 3 reporting), below --min-success 66.7');
    t.like((boundary as { details?: object }).details, {
      evidence: { installed: 2, reporting: 3, minSuccess: 66.7 },
    });

    const p = await site.promotions.promote({ ...input, minSuccess: 66 }, 'test');
    t.like(p, {
      updateId,
      from: 'ring1',
      group: 'ring2',
      action: 'install',
      deadline: '2030-01-02T03:04:05.000Z',
      percent: 100,
      evidence: { revision: 1, installed: 2, failed: 1, reporting: 3, notApplicable: 1 },
    });
    t.is(p.evidence.successRate.toFixed(1), '66.7');
    const ring2 = (await site.deployments.list()).find((d) => d.group === 'ring2');
    t.like(ring2, { action: 'install', deadline: '2030-01-02T03:04:05.000Z', percent: 100 });

    const [row] = (await site.db('audit_log').where({ action: 'deployment.promote' })) as Array<{
      actor: string;
      target: string;
      detail: string;
    }>;
    t.is(row?.target, updateId);
    t.like(JSON.parse(row?.detail ?? '{}'), {
      group: 'ring2',
      from: 'ring1',
      evidence: { installed: 2, reporting: 3, minSuccess: 66 },
    });
    t.is(
      (await site.db('audit_log').where({ action: 'deployment.approve', target: updateId })).length,
      1,
      'only the approval to ring1; the promotion is one row of its own',
    );
  },
);

dbTest('promote: bad requests are coded errors', async (t, { site }) => {
  const { updateId } = await fixture(site);
  const cases: Array<[Record<string, unknown>, string, RegExp]> = [
    [{ updateId, from: 'ring1', to: 'ring1' }, 'conflict', /source group itself/],
    [{ updateId, from: 'nope', to: 'ring2' }, 'not_found', /from: group "nope"/],
    [{ updateId, from: 'ring2', to: 'ring1' }, 'conflict', /not deployed to "ring2"/],
    [
      { updateId: '00000000-0000-0000-0000-000000000000', from: 'ring1', to: 'ring2' },
      'not_found',
      /does not exist/,
    ],
    [{ updateId, from: 'ring1', to: 'ring2', minSuccess: 101 }, 'invalid_input', /minSuccess/],
    [{ updateId, from: 'ring1', to: 'ring2', extra: 1 }, 'invalid_input', /extra: unknown field/],
  ];
  for (const [input, code, message] of cases) {
    const err = await t.throwsAsync(site.promotions.promote(input, 'test'));
    t.is(codeOf(err), code, JSON.stringify(input));
    t.regex(err?.message ?? '', message);
  }
});

dbTest(
  'POST /v1/promotions: approve scope; the refusal is a 409 with the figures',
  async (t, { site }) => {
    const { app, updateId, ring1 } = await fixture(site);
    const body = { updateId, from: 'ring1', to: 'ring2', minSuccess: 90 };
    const forbidden = await request(app)
      .post('/v1/promotions')
      .set('Authorization', await bearer(site, 'publish'))
      .send(body);
    t.is(forbidden.status, 403);

    const auth = await bearer(site, 'approve');
    for (const c of ring1.slice(0, 3)) await report(app, c, updateId, 'installed');
    const c3 = ring1[3];
    if (c3 === undefined) throw 0;
    await report(app, c3, updateId, 'failed');
    const refused = await request(app).post('/v1/promotions').set('Authorization', auth).send(body);
    t.is(refused.status, 409);
    t.is(
      refused.body.error.message,
      'ring1: 75.0% installed (3 of 4 reporting), below --min-success 90',
    );
    const ok = await request(app)
      .post('/v1/promotions')
      .set('Authorization', auth)
      .send({ ...body, minSuccess: 75, percent: 20 });
    t.is(ok.status, 201);
    t.like(ok.body, { group: 'ring2', percent: 20, evidence: { installed: 3, reporting: 4 } });
  },
);
