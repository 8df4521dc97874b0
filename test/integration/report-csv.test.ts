import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { createApp } from '../../src/server/app.js';
import { dbTest } from '../helpers/site.js';
import { bearer } from '../helpers/tokens.js';

/** A client whose name and failure text were written by a hostile endpoint. */
async function hostileClient(
  site: Parameters<Parameters<typeof dbTest>[1]>[1]['site'],
): Promise<string> {
  const id = randomUUID();
  await site.db('clients').insert({
    client_id: id,
    hardware_id: 'hw-evil',
    name: '=HYPERLINK("http://x","click"), "quoted"',
    os: 'linux',
    architecture: 'x64',
    client_version: '1.0.0',
    approval: 'approved',
    blocked: false,
    record_state: 'active',
    created_at: '2026-01-01T00:00:00.000Z',
    last_contact: null,
  });
  await site.db('state_messages').insert({
    message_id: 'm-1',
    client_id: id,
    authenticated: true,
    topic: 'client',
    state: 'failed',
    code: -5,
    detail: JSON.stringify({ text: '@SUM(1+1)\r\nsecond line' }),
    received_at: '2026-01-02T00:00:00.000Z',
  });
  return id;
}

dbTest(
  'reports as CSV: ?format=csv and Accept: text/csv, escaped and neutralized',
  async (t, { site }) => {
    const id = await hostileClient(site);
    const app = createApp(site);
    const auth = await bearer(site, 'read');

    const stale = await request(app).get('/v1/reports/stale?format=csv').set('Authorization', auth);
    t.is(stale.status, 200, stale.text);
    t.regex(stale.headers['content-type'] as string, /^text\/csv; charset=utf-8/);
    t.is(stale.headers['content-disposition'], 'attachment; filename="upcat-stale.csv"');
    t.is(
      stale.text,
      `clientId,name,hardwareId,lastContact\r\n${id},"'=HYPERLINK(""http://x"",""click""), ""quoted""",hw-evil,\r\n`,
    );

    const history = await request(app)
      .get(`/v1/reports/clients/${id}/history`)
      .set('Authorization', auth)
      .set('Accept', 'text/csv');
    t.is(history.status, 200);
    t.is(history.headers['content-disposition'], 'attachment; filename="upcat-history.csv"');
    const [header, row] = history.text.split('\r\n');
    t.is(header, 'receivedAt,sentAt,topic,updateId,revision,state,code,detail,messageId');
    t.is(row, `2026-01-02T00:00:00.000Z,,client,,,failed,-5,"'@SUM(1+1)`);
    t.true(history.text.endsWith(`second line",m-1\r\n`));

    for (const path of ['/v1/reports/revisions', '/v1/reports/client-install-failures']) {
      const csv = await request(app).get(`${path}?format=csv`).set('Authorization', auth);
      t.is(csv.status, 200, path);
      t.regex(csv.text, /^[a-zA-Z,]+\r\n$/, `${path}: a header row, no rows yet`);
    }
  },
);

dbTest('reports: JSON stays the default; a bad format is a 400', async (t, { site }) => {
  await hostileClient(site);
  const app = createApp(site);
  const auth = await bearer(site, 'read');
  const json = await request(app).get('/v1/reports/stale').set('Authorization', auth);
  t.is(json.status, 200);
  t.is((json.body.clients as unknown[]).length, 1);
  const any = await request(app)
    .get('/v1/reports/stale')
    .set('Authorization', auth)
    .set('Accept', '*/*');
  t.regex(any.headers['content-type'] as string, /application\/json/);
  const forced = await request(app)
    .get('/v1/reports/stale?format=json')
    .set('Authorization', auth)
    .set('Accept', 'text/csv');
  t.regex(forced.headers['content-type'] as string, /application\/json/);
  const bad = await request(app).get('/v1/reports/stale?format=xlsx').set('Authorization', auth);
  t.is(bad.status, 400);
  t.regex(String(bad.body.error?.message), /format: must be csv or json/);
});
