import { randomBytes } from 'node:crypto';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import knexFactory from 'knex';
import request from 'supertest';
import { openSite } from '../../src/app.js';
import type { MigrateReport } from '../../src/ops/migrate-db.js';
import { createApp } from '../../src/server/app.js';
import { runCli } from '../helpers/cli.js';
import { register, registration } from '../helpers/clients.js';
import { fileManifest, publishBytes } from '../helpers/publish.js';
import { dropSchema, makeSite, siteEnv } from '../helpers/site.js';

/**
 * Issue 13 item 2: `upcat migrate-db` moves a site from SQLite to PostgreSQL and back, verified
 * table by table; the moved site serves its clients (their secrets still work); an empty
 * database under a home with data is refused by every command, naming both.
 */

const PG = process.env['DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';

test('SQLite to PostgreSQL and back, row by row; the moved site knows its clients', async (t) => {
  t.timeout(240_000);
  const ctx = await makeSite('sqlite');
  const schema = `t_${randomBytes(6).toString('hex')}`;
  const pgEnv = { ...ctx.env, DATABASE_URL: PG, UPCAT_DATABASE_SCHEMA: schema };
  t.teardown(async () => {
    await dropSchema(pgEnv);
    await ctx.cleanup().catch(() => undefined);
  });
  const { site } = ctx;

  // A site with history: revisions, supersedence (a reference inside one table), an expiry,
  // clients with secrets, state messages, groups, a deployment, audit rows.
  const a = await publishBytes(site, 'a1', fileManifest('tool.bin', { product: 'A' }));
  const b = await publishBytes(
    site,
    'b1',
    fileManifest('tool.bin', { product: 'B', supersedes: [a.updateId] }),
  );
  await publishBytes(site, 'c1', fileManifest('tool.bin', { product: 'C' }));
  await site.expire.expire(b.updateId, 'test');
  const app = createApp(site);
  const clients = [];
  for (let i = 0; i < 3; i++) {
    const r = await register(app, registration({ hardwareId: `hw-${i}`, name: `pc-${i}` }));
    t.is(r.status, 201, JSON.stringify(r.body));
    clients.push(r.body);
  }
  const before = await runCli(['report', 'revisions', '--json'], ctx.env);
  t.is(before.code, 0, before.stderr);

  // A non-empty target is refused.
  const busy = `t_${randomBytes(6).toString('hex')}`;
  const busyEnv = { ...ctx.env, DATABASE_URL: PG, UPCAT_DATABASE_SCHEMA: busy };
  t.teardown(() => dropSchema(busyEnv));
  const other = await openSite({
    home: await mkdtemp(path.join(os.tmpdir(), 'upcat-busy-')),
    env: busyEnv,
    logLevel: 'silent',
  });
  await other.close();
  const refused = await runCli(['migrate-db', '--to', PG, '--schema', busy], ctx.env);
  t.is(refused.code, 2);
  t.regex(refused.stderr, /^upcat: the target database .* is not empty/);

  const res = await runCli(['migrate-db', '--to', PG, '--schema', schema, '--json'], ctx.env);
  t.is(res.code, 0, res.stderr);
  const there = JSON.parse(res.stdout) as MigrateReport;
  t.is(there.to, 'postgres');
  const rowsOf = (r: MigrateReport, table: string): number | undefined =>
    r.tables.find((x) => x.table === table)?.rows;
  t.is(rowsOf(there, 'clients'), 3);
  t.is(rowsOf(there, 'revisions'), 3);
  t.is(rowsOf(there, 'groups'), 2);

  // The same home on PostgreSQL: same reports; a client's secret authenticates its sync.
  const after = await runCli(['report', 'revisions', '--json'], pgEnv);
  t.is(after.code, 0, after.stderr);
  t.deepEqual(JSON.parse(after.stdout), JSON.parse(before.stdout));
  const moved = await openSite({ home: ctx.home, env: pgEnv, logLevel: 'silent' });
  try {
    const sync = await request(createApp(moved))
      .get('/v1/sync')
      .set('Authorization', `Bearer ${clients[0]?.secret ?? ''}`)
      .set('Upcat-Hardware-Id', 'hw-0');
    t.is(sync.status, 200, JSON.stringify(sync.body));
    // Serial ids go on after the copied ones.
    await publishBytes(moved, 'd1', fileManifest('tool.bin', { product: 'D' }));
  } finally {
    await moved.close();
  }

  // And back to SQLite, in a home of its own (a copy of the site's files).
  const home2 = await mkdtemp(path.join(os.tmpdir(), 'upcat-back-'));
  t.teardown(() => rm(home2, { recursive: true, force: true }));
  await cp(path.join(ctx.home, 'signing'), path.join(home2, 'signing'), { recursive: true });
  const back = await runCli(['migrate-db', '--to', 'sqlite', '--json'], {
    ...pgEnv,
    UPCAT_HOME: home2,
  });
  t.is(back.code, 0, back.stderr);
  const report = JSON.parse(back.stdout) as MigrateReport;
  t.is(report.to, 'sqlite');
  t.is(rowsOf(report, 'revisions'), 4);
  // Tables that did not change since the first copy have the same digest on all three.
  t.is(
    report.tables.find((x) => x.table === 'clients')?.digest,
    there.tables.find((x) => x.table === 'clients')?.digest,
  );
  const again = await openSite({ home: home2, env: siteEnv('sqlite', home2), logLevel: 'silent' });
  try {
    const count = async (table: string): Promise<number> =>
      Number(((await again.db(table).count({ n: '*' })) as Array<{ n: number }>)[0]?.n);
    t.is(await count('revisions'), 4);
    t.is(await count('clients'), 3);
    const superseded = (await again.db('updates').where({ update_id: a.updateId }).first()) as {
      superseded_by: string | null;
    };
    t.is(superseded.superseded_by, b.updateId);
  } finally {
    await again.close();
  }
});

test("an empty database under a home that holds another one's data is refused, naming both", async (t) => {
  t.timeout(120_000);
  const ctx = await makeSite('sqlite');
  t.teardown(() => ctx.cleanup());
  await publishBytes(ctx.site, 'a1', fileManifest('tool.bin', { product: 'A' }));
  await register(createApp(ctx.site), registration());
  const schema = `t_${randomBytes(6).toString('hex')}`;
  const pgEnv = { ...ctx.env, DATABASE_URL: PG, UPCAT_DATABASE_SCHEMA: schema };
  t.teardown(() => dropSchema(pgEnv));
  for (const args of [
    ['serve', '--port', '0'],
    ['report', 'revisions'],
  ]) {
    const res = await runCli(args, pgEnv);
    t.is(res.code, 2, res.stderr);
    const lines = res.stderr.trim().split('\n');
    t.is(lines.length, 1);
    t.regex(lines[0] ?? '', new RegExp(`PostgreSQL database .*\\(schema ${schema}\\) is empty`));
    t.regex(lines[0] ?? '', /catalog\/upcat\.db \(1 clients, catalog version 1\)/);
    t.regex(lines[0] ?? '', /the TUF repository .*catalog version 1/);
  }
  // No migration ran: the empty schema holds no table.
  const admin = knexFactory({ client: 'pg', connection: PG });
  try {
    const res = (await admin.raw(
      'select count(*) as n from information_schema.tables where table_schema = ?',
      [schema],
    )) as { rows: Array<{ n: string }> };
    t.is(Number(res.rows[0]?.n), 0);
  } finally {
    await admin.destroy();
  }
});
