import type { Express } from 'express';
import request from 'supertest';
import { createApp } from '../../src/server/app.js';
import { runCli } from '../helpers/cli.js';
import { register, registration } from '../helpers/clients.js';
import { dbTest } from '../helpers/site.js';
import type { Site } from '../../src/app.js';

/**
 * Clones after registration (issue 5 item 3): the agent names its hardware in
 * `Upcat-Hardware-Id` on sync and status; another hardware ID than the record's flags it as a
 * suspected clone, once, with an audit row, and the request is answered as before.
 */

async function approved(site: Site, app: Express, hardwareId: string) {
  site.config.site.approval = 'auto-all';
  return (await register(app, registration({ hardwareId, name: hardwareId }))).body;
}

const cloneAudits = async (site: Site, clientId: string): Promise<Array<{ detail: string }>> =>
  (await site
    .db('audit_log')
    .where({ action: 'client.clone_suspected', target: clientId })
    .select('detail', 'actor')) as Array<{ detail: string }>;

dbTest(
  'a sync or status from other hardware flags the record once, audits it, and is still answered',
  async (t, { site }) => {
    const app = createApp(site);
    const a = await approved(site, app, 'hw-a');
    const auth = { Authorization: `Bearer ${a.secret}` };

    const same = await request(app).get('/v1/sync').set(auth).set('Upcat-Hardware-Id', 'hw-a');
    t.is(same.status, 200);
    t.false((await site.clients.get(a.clientId)).cloneSuspected);
    t.deepEqual(await cloneAudits(site, a.clientId), []);

    const other = await request(app).get('/v1/sync').set(auth).set('Upcat-Hardware-Id', 'hw-copy');
    t.is(other.status, 200, 'a flag, not a refusal');
    t.true((await site.clients.get(a.clientId)).cloneSuspected);
    const audits = await cloneAudits(site, a.clientId);
    t.is(audits.length, 1);
    t.deepEqual(JSON.parse(audits[0]?.detail ?? '{}'), {
      hardwareId: 'hw-a',
      presented: 'hw-copy',
    });

    // Once: more requests from the copy write nothing more.
    await request(app).get('/v1/sync').set(auth).set('Upcat-Hardware-Id', 'hw-copy').expect(200);
    await request(app)
      .post('/v1/status')
      .set(auth)
      .set('Upcat-Hardware-Id', 'hw-copy-2')
      .send({ messages: [{ id: 'm-1', topic: 'client', state: 'cannot_reach_site' }] })
      .expect(202);
    t.is((await cloneAudits(site, a.clientId)).length, 1);

    // POST /v1/status checks it too; without the header (older agents) nothing is flagged.
    const b = await approved(site, app, 'hw-b');
    await request(app).get('/v1/sync').set('Authorization', `Bearer ${b.secret}`).expect(200);
    t.false((await site.clients.get(b.clientId)).cloneSuspected);
    await request(app)
      .post('/v1/status')
      .set('Authorization', `Bearer ${b.secret}`)
      .set('Upcat-Hardware-Id', 'hw-elsewhere')
      .send({ messages: [{ id: 'm-1', topic: 'client', state: 'cannot_reach_site' }] })
      .expect(202);
    t.true((await site.clients.get(b.clientId)).cloneSuspected);
    t.is((await cloneAudits(site, b.clientId)).length, 1);

    // A header that cannot be a hardware ID is a bad request, not a flag.
    const c = await approved(site, app, 'hw-c');
    const bad = await request(app)
      .get('/v1/sync')
      .set('Authorization', `Bearer ${c.secret}`)
      .set('Upcat-Hardware-Id', 'x'.repeat(129));
    t.is(bad.status, 400);
    t.is(bad.body.error.code, 'invalid_input');
    t.regex(bad.body.error.message, /Upcat-Hardware-Id/);
    t.false((await site.clients.get(c.clientId)).cloneSuspected);
  },
);

dbTest(
  'upcat clients list shows a suspected clone (CLONE column, cloneSuspected)',
  async (t, ctx) => {
    const { site, env } = ctx; // the CLI (dist/, npm run build) opens the same site
    const app = createApp(site);
    const a = await approved(site, app, 'hw-a');
    const b = await approved(site, app, 'hw-b');
    await request(app)
      .get('/v1/sync')
      .set('Authorization', `Bearer ${a.secret}`)
      .set('Upcat-Hardware-Id', 'hw-copy')
      .expect(200);

    const json = await runCli(['clients', 'list', '--json'], env);
    t.is(json.code, 0, json.stderr);
    const list = JSON.parse(json.stdout) as Array<{ clientId: string; cloneSuspected: boolean }>;
    t.deepEqual(
      list.map((c) => [c.clientId, c.cloneSuspected]),
      [
        [a.clientId, true],
        [b.clientId, false],
      ],
    );
    const readable = await runCli(['clients', 'list'], env);
    t.is(readable.code, 0, readable.stderr);
    const [header, ...rows] = readable.stdout.trimEnd().split('\n');
    t.regex(header ?? '', /\bBLOCKED\s+CLONE\s+GROUPS\b/);
    t.regex(rows.find((r) => r.startsWith(a.clientId)) ?? '', /\bno\s+suspected\s+-\s/);
    t.regex(rows.find((r) => r.startsWith(b.clientId)) ?? '', /\bno\s+-\s+-\s/);
  },
);
