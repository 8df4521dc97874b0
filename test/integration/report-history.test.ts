import { randomUUID } from 'node:crypto';
import request from 'supertest';
import type { Site } from '../../src/app.js';
import { revisionHistory } from '../../src/site/report-history.js';
import { createApp } from '../../src/server/app.js';
import { fileManifest, publishBytes } from '../helpers/publish.js';
import { dbTest } from '../helpers/site.js';
import { bearer } from '../helpers/tokens.js';

const NOW = Date.parse('2026-03-10T12:30:00.000Z');

async function client(site: Site, name: string, approval = 'approved'): Promise<string> {
  const id = randomUUID();
  await site.db('clients').insert({
    client_id: id,
    hardware_id: `hw-${name}`,
    name,
    os: 'linux',
    architecture: 'x64',
    client_version: '1.0.0',
    approval,
    blocked: false,
    record_state: 'active',
    created_at: '2026-01-01T00:00:00.000Z',
    last_contact: null,
  });
  return id;
}

async function message(
  site: Site,
  clientId: string,
  updateId: string,
  state: string,
  at: string,
): Promise<void> {
  await site.db('state_messages').insert({
    message_id: randomUUID(),
    client_id: clientId,
    authenticated: true,
    topic: 'update',
    update_id: updateId,
    revision_number: 1,
    state,
    received_at: at,
  });
}

/** Three approved clients and a pending one; the update deployed to All Computers. */
async function scene(site: Site): Promise<{ updateId: string; ids: string[] }> {
  const { updateId } = await publishBytes(site, 'tool 1.0', fileManifest('tool.bin'));
  await site.deployments.approve({ updateId, group: 'All Computers', action: 'install' }, 'test');
  const ids = [await client(site, 'a'), await client(site, 'b'), await client(site, 'c')];
  const stranger = await client(site, 'pending-one', 'pending');
  const [a, b, c] = ids as [string, string, string];
  await message(site, a, updateId, 'installed', '2026-03-08T09:00:00.000Z');
  await message(site, b, updateId, 'failed', '2026-03-09T10:00:00.000Z');
  await message(site, b, updateId, 'installed', '2026-03-10T11:00:00.000Z');
  await message(site, c, updateId, 'downloading', '2026-03-09T10:00:00.000Z');
  // Not counted: the client is not approved (evidence.ts).
  await message(site, stranger, updateId, 'installed', '2026-03-08T09:00:00.000Z');
  return { updateId, ids };
}

dbTest(
  'revision history: per day, the last final state of each targeted client by the end of the day',
  async (t, { site }) => {
    const { updateId } = await scene(site);
    const points = await revisionHistory(site.db, { updateId, bucket: 'day', since: '3d' }, NOW);
    t.deepEqual(
      points.map((p) => [p.at, p.installed, p.failed, p.pending, p.targeted]),
      [
        ['2026-03-08T00:00:00.000Z', 0, 0, 3, 3],
        ['2026-03-09T00:00:00.000Z', 1, 0, 2, 3],
        ['2026-03-10T00:00:00.000Z', 1, 1, 1, 3],
        ['2026-03-10T12:30:00.000Z', 2, 0, 1, 3],
      ],
    );
    const hours = await revisionHistory(site.db, { updateId, bucket: 'hour', since: '2h' }, NOW);
    t.deepEqual(
      hours.map((p) => [p.at, p.installed, p.failed]),
      [
        ['2026-03-10T11:00:00.000Z', 1, 1],
        ['2026-03-10T12:00:00.000Z', 2, 0],
        ['2026-03-10T12:30:00.000Z', 2, 0],
      ],
    );
  },
);

dbTest('GET /v1/reports/history: JSON, CSV, and bad input named', async (t, { site }) => {
  const { updateId } = await scene(site);
  const app = createApp(site);
  const auth = await bearer(site, 'read');
  const json = await request(app)
    .get(`/v1/reports/history?updateId=${updateId}&bucket=hour&since=1h`)
    .set('Authorization', auth);
  t.is(json.status, 200, json.text);
  const points = json.body.points as Array<{ installed: number; targeted: number }>;
  t.true(points.length >= 2);
  t.like(points.at(-1), { installed: 2, targeted: 3 });

  const csv = await request(app)
    .get(`/v1/reports/history?updateId=${updateId}&format=csv`)
    .set('Authorization', auth);
  t.is(csv.status, 200);
  t.is(csv.headers['content-disposition'], 'attachment; filename="upcat-revision-history.csv"');
  t.is(
    csv.text.split('\r\n')[0],
    'at,updateId,revision,installed,failed,pending,notApplicable,targeted',
  );

  for (const [q, status, message] of [
    ['', 400, /updateId: required/],
    [`updateId=${updateId}&bucket=week`, 400, /bucket: must be hour or day/],
    [`updateId=${updateId}&bucket=hour&since=90d`, 400, /since: .*more than 1000 points/],
    [`updateId=${updateId}&revision=0`, 400, /revision:/],
    [`updateId=${updateId}&revision=7`, 404, /no revision 7/],
    [`updateId=${updateId}&group=Nowhere`, 404, /not deployed to Nowhere/],
    [`updateId=${randomUUID()}`, 404, /no update/],
    [`updateId=${updateId}&color=red`, 400, /color: unknown parameter/],
  ] as const) {
    const res = await request(app).get(`/v1/reports/history?${q}`).set('Authorization', auth);
    t.is(res.status, status, q);
    t.regex(String(res.body.error?.message), message, q);
  }
  t.is((await request(app).get(`/v1/reports/history?updateId=${updateId}`)).status, 401);
});
