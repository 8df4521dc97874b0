import { randomUUID } from 'node:crypto';
import test from 'ava';
import type { Knex } from 'knex';
import { pino } from 'pino';
import { openSite } from '../../src/app.js';
import { ContactRecorder } from '../../src/site/contacts.js';
import { DATABASES, dbTest, makeSite } from '../helpers/site.js';

/**
 * Clients' last contact is written behind the requests (src/site/contacts.ts): every client
 * noted is written at the next flush, in commits of several chunks, and one whose stored contact
 * is recent is not written again.
 */

const HOUR = 3600 * 1000;
const iso = (msAgo: number): string => new Date(Date.now() - msAgo).toISOString();

/** Client rows for a bulk insert, each with the last contact `lastContact(i)` gives. */
function clientRows(n: number, tag: string, lastContact: (i: number) => string | null) {
  return Array.from({ length: n }, (_, i) => ({
    client_id: randomUUID(),
    hardware_id: `hw-${tag}-${i}`,
    name: 'pc',
    os: 'linux',
    architecture: 'x64',
    client_version: '1.0.0',
    approval: 'approved',
    record_state: 'active',
    created_at: iso(2 * HOUR),
    last_contact: lastContact(i),
  }));
}

dbTest(
  'contacts: 12,345 clients noted are all written by one flush, recent ones are not noted',
  async (t, { site }) => {
    const n = 12_345; // more than one commit's worth of chunks, and not a multiple of a chunk
    const rows = clientRows(n, 'contact', (i) => (i === 0 ? null : iso(HOUR)));
    await site.db.batchInsert('clients', rows, 500);
    const recorder = new ContactRecorder({ db: site.db, log: pino({ level: 'silent' }) });
    const before = Date.now();
    for (const r of rows) t.truthy(recorder.touch(r), 'an hour-old contact is noted');
    const recent = { client_id: randomUUID(), last_contact: iso(60_000) };
    t.is(recorder.touch(recent), undefined, 'a contact a minute old is not noted again');
    // The fast path's form, with time values: the same rule.
    const now = Date.now();
    t.is(recorder.touchAt(recent.client_id, now - 60_000, now), undefined);
    t.is(recorder.touchAt(rows[1]?.client_id ?? '', now - HOUR, now), now);
    await recorder.flush();
    const written = (await site
      .db('clients')
      .where('last_contact', '>=', new Date(before - 1000).toISOString())
      .count({ n: '*' })
      .first()) as { n: number | string };
    t.is(Number(written.n), n, 'every noted client written');
  },
);

dbTest(
  'contacts: under a storm the timer writes a bounded number per interval until all are written',
  async (t, { site }) => {
    const n = 2_500;
    const rows = clientRows(n, 'storm', () => iso(HOUR));
    await site.db.batchInsert('clients', rows, 500);
    const recorder = new ContactRecorder(
      { db: site.db, log: pino({ level: 'silent' }) },
      { intervalMs: 30, maxPerInterval: 1_000 },
    );
    const before = new Date(Date.now() - 1000).toISOString();
    for (const r of rows) recorder.touch(r);
    const deadline = Date.now() + 10_000;
    let byTime: Array<{ last_contact: string; n: number | string }> = [];
    while (Date.now() < deadline) {
      byTime = (await site
        .db('clients')
        .where('last_contact', '>=', before)
        .groupBy('last_contact')
        .orderBy('last_contact')
        .select('last_contact', site.db.raw('count(*) as n'))) as typeof byTime;
      if (byTime.reduce((sum, g) => sum + Number(g.n), 0) >= n) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    t.deepEqual(
      byTime.map((g) => Number(g.n)),
      [1_000, 1_000, 500],
      'three intervals: two full ones, then the rest',
    );
  },
);

dbTest(
  'contacts: a contact another process wrote within the interval is not written again',
  async (t, { site }) => {
    const rows = clientRows(3, 'two', () => iso(HOUR));
    await site.db.batchInsert('clients', rows, 500);
    const log = pino({ level: 'silent' });
    // Two workers of one node, each remembering the hour-old contact it read.
    const first = new ContactRecorder({ db: site.db, log });
    const second = new ContactRecorder({ db: site.db, log });
    const read = async (): Promise<Array<string | null>> =>
      (
        (await site
          .db('clients')
          .whereIn(
            'client_id',
            rows.map((r) => r.client_id),
          )
          .orderBy('hardware_id')
          .select('last_contact')) as Array<{ last_contact: string | null }>
      ).map((r) => r.last_contact);
    first.touch(rows[0]!);
    await first.flush();
    const written = await read();
    t.not(written[0], rows[0]!.last_contact);
    await new Promise((r) => setTimeout(r, 20));
    for (const r of rows.slice(0, 2)) t.truthy(second.touch(r), 'noted from its own memory');
    await second.flush();
    const after = await read();
    t.is(after[0], written[0], 'the row the first wrote is left as it was');
    t.not(after[1], rows[1]!.last_contact, 'an hour-old row is written');
    t.is(after[2], rows[2]!.last_contact, 'a client not noted is not touched');
  },
);

test("contacts: the write cap is the node's, shared by its worker processes", async (t) => {
  const { site, cleanup, env, home } = await makeSite('sqlite');
  try {
    t.is(site.contacts.maxPerInterval, 5_000);
    const worker = await openSite({
      home,
      env: { ...env, UPCAT_WORKERS: '3' },
      logLevel: 'silent',
    });
    t.is(worker.contacts.maxPerInterval, 1_667);
    await worker.close();
  } finally {
    await cleanup();
  }
});

// Migration 020: on PostgreSQL a contact must be a heap-only update (no index entry written), the
// reason a patch-day storm's contacts stay cheap there. SQLite has no such update path.
if (DATABASES.includes('postgres'))
  test('contacts: on PostgreSQL the update the recorder makes is heap-only [postgres]', async (t) => {
    const { site, cleanup } = await makeSite('postgres');
    try {
      const rows = clientRows(2_000, 'hot', () => iso(HOUR));
      await site.db.batchInsert('clients', rows, 500);
      // One client in four, spread over every page, in one transaction: their new row versions
      // fit in the 30 % each page keeps free, without waiting for PostgreSQL to prune the old
      // ones (it cannot while any transaction on the database is older, as in a busy test run).
      const some = rows.filter((_, i) => i % 4 === 0).map((r) => r.client_id);
      const { updated, hot } = await site.db.transaction(async (trx) => {
        // The backend's counters include what earlier transactions on its connection did and
        // it has not yet reported, so this transaction's share is a difference.
        const before = await xactCounts(trx);
        // The recorder's statement (src/site/contacts.ts), 500 clients at a time.
        for (let i = 0; i < some.length; i += 500)
          await trx('clients')
            .whereIn('client_id', some.slice(i, i + 500))
            .andWhere((q) =>
              q.whereNull('last_contact').orWhere('last_contact', '<=', iso(5 * 60_000)),
            )
            .update({ last_contact: new Date().toISOString() });
        const after = await xactCounts(trx);
        return { updated: after.updated - before.updated, hot: after.hot - before.hot };
      });
      t.is(updated, 500);
      // Without migration 020 none is: the index on last_contact, and full pages.
      t.true(hot >= 475, `heap-only updates: ${hot} of 500`);
    } finally {
      await cleanup();
    }
  });

async function xactCounts(trx: Knex.Transaction): Promise<{ updated: number; hot: number }> {
  const r = (await trx.raw(
    `select pg_stat_get_xact_tuples_updated('clients'::regclass) as updated,
            pg_stat_get_xact_tuples_hot_updated('clients'::regclass) as hot`,
  )) as { rows: Array<{ updated: string; hot: string }> };
  return { updated: Number(r.rows[0]?.updated), hot: Number(r.rows[0]?.hot) };
}
