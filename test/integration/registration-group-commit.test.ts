/**
 * Group commit of registrations (issue 16): registrations arriving together share a transaction,
 * and must end exactly as the same registrations made one at a time, a refused one failing alone.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { UpcatError, isUpcatError } from '../../src/errors.js';
import type { Site } from '../../src/app.js';
import { createEnrollmentToken } from '../../src/site/enrollment.js';
import { GroupCommit } from '../../src/site/group-commit.js';
import { registration } from '../helpers/clients.js';
import { dbTest } from '../helpers/site.js';

interface Prepared {
  token: string;
  ownSecret: string;
  victimSecret: string;
}

/** Clients a storm needs beforehand: an approved one, a clone's victim, a blocked machine. */
async function prepare(site: Site, p: string): Promise<Prepared> {
  const { token } = await createEnrollmentToken(site.db, { name: `lab-${p}`, actor: 'test' });
  const reg = site.registration;
  const own = await reg.register(registration({ hardwareId: `${p}-own`, enrollmentToken: token }));
  const victim = await reg.register(registration({ hardwareId: `${p}-victim` }));
  const blocked = await reg.register(registration({ hardwareId: `${p}-blocked` }));
  await site.clients.block(blocked.clientId, 'test');
  return { token, ownSecret: own.secret, victimSecret: victim.secret };
}

/**
 * 48 registrations: fresh machines (half with the enrollment token), bad tokens, four anonymous
 * registrations of each of three hardware IDs, a blocked machine, clones (another machine's
 * secret from new hardware), re-registrations with the own secret, and bodies the schema refuses.
 */
function storm(p: string, prepared: Prepared): Array<{ body: object; secret?: string }> {
  const out: Array<{ body: object; secret?: string }> = [];
  for (let i = 0; i < 20; i++) {
    const token = i % 2 === 0 ? { enrollmentToken: prepared.token } : {};
    out.push({ body: registration({ hardwareId: `${p}-f${i}`, ...token }) });
  }
  for (let i = 0; i < 6; i++)
    out.push({ body: registration({ hardwareId: `${p}-bad${i}`, enrollmentToken: 'nope' }) });
  for (let i = 0; i < 12; i++) out.push({ body: registration({ hardwareId: `${p}-d${i % 3}` }) });
  for (let i = 0; i < 2; i++) out.push({ body: registration({ hardwareId: `${p}-blocked` }) });
  for (let i = 0; i < 2; i++) {
    out.push({
      body: registration({ hardwareId: `${p}-clone${i}` }),
      secret: prepared.victimSecret,
    });
  }
  for (let i = 0; i < 2; i++)
    out.push({ body: registration({ hardwareId: `${p}-own` }), secret: prepared.ownSecret });
  for (let i = 0; i < 2; i++)
    out.push({ body: registration({ hardwareId: `${p}-x${i}`, architecture: 'x-64!' }) });
  // Interleaved, so that refused and accepted registrations share batches.
  return out
    .map((r, i) => ({ r, k: (i * 17) % out.length }))
    .sort((a, b) => a.k - b.k)
    .map((x) => x.r);
}

async function outcome(site: Site, item: { body: object; secret?: string }): Promise<string> {
  try {
    const answer = await site.registration.register(
      item.body,
      item.secret === undefined ? {} : { secret: item.secret },
    );
    return `ok ${answer.status}`;
  } catch (error) {
    if (isUpcatError(error)) return `refused ${error.code}`;
    throw error;
  }
}

/** The stored result of a storm, with the prefix taken off the hardware IDs. */
async function stored(site: Site, p: string): Promise<string[]> {
  const rows = (await site
    .db('clients')
    .where('hardware_id', 'like', `${p}-%`)
    .select(
      'hardware_id',
      'record_state',
      'approval',
      'blocked',
      'clone_suspected',
      'cloned_from',
      'conflict_with',
      'replaced_by',
    )) as Array<Record<string, unknown>>;
  const clients = rows.map((r) =>
    [
      String(r['hardware_id']).slice(p.length),
      r['record_state'],
      r['approval'],
      Boolean(r['blocked']),
      Boolean(r['clone_suspected']),
      r['cloned_from'] !== null,
      r['conflict_with'] !== null,
      r['replaced_by'] !== null,
    ].join(' '),
  );
  const audits = (await site
    .db('audit_log')
    .whereIn('action', ['client.register', 'client.reregister'])
    .select('action', 'detail')) as Array<{ action: string; detail: string }>;
  const mine = audits
    .filter((a) => (JSON.parse(a.detail) as { hardwareId: string }).hardwareId.startsWith(`${p}-`))
    .map(
      (a) =>
        `${a.action} ${(JSON.parse(a.detail) as { hardwareId: string }).hardwareId.slice(p.length)}`,
    );
  return [...clients, ...mine].sort();
}

dbTest(
  'a storm of concurrent registrations ends as the same registrations one at a time',
  async (t, { site }) => {
    const seq = await prepare(site, 'seq');
    const con = await prepare(site, 'con');
    const sequential: string[] = [];
    for (const item of storm('seq', seq)) sequential.push(await outcome(site, item));

    let commits = 0;
    const count = (q: { sql: string }): void => {
      if (/^commit/i.test(q.sql)) commits += 1;
    };
    site.db.on('query', count);
    const items = storm('con', con);
    const concurrent = await Promise.all(items.map((item) => outcome(site, item)));
    site.db.off('query', count);

    t.deepEqual(concurrent, sequential);
    t.deepEqual(await stored(site, 'con'), await stored(site, 'seq'));
    // Both kinds of refusal and every kind of success are in the storm.
    for (const o of ['refused unauthorized', 'refused client_blocked', 'refused invalid_input'])
      t.true(sequential.includes(o), o);
    t.true(sequential.includes('ok approved') && sequential.includes('ok pending'));
    // They were grouped: far fewer commits than registrations written.
    t.true(commits < items.length / 4, `${commits} commits for ${items.length} registrations`);
  },
);

dbTest(
  'group commit: a failing work fails alone, its batch-mates commit, each is answered after the commit',
  async (t, { site }) => {
    await site.db.schema.createTable('gc_probe', (table) => {
      table.integer('n').primary();
    });
    const batches = new GroupCommit({
      db: site.db,
      lock: async () => {},
      maxBatch: 100,
      concurrency: 1,
    });
    const store = new AsyncLocalStorage<number>();
    let flaky = 0;
    const visible: boolean[] = [];
    const results = await Promise.allSettled(
      Array.from({ length: 12 }, (_, n) =>
        store.run(n, () =>
          batches
            .run(`k${n}`, async (trx) => {
              await trx('gc_probe').insert({ n });
              // A refusal after a write: rolled back to its savepoint, delivered as it is.
              if (n === 3) throw new UpcatError('conflict', 'refused');
              // A failure that is not a refusal (a deadlock, say): run again alone.
              if (n === 7 && flaky++ === 0) throw new Error('transient');
              return store.getStore();
            })
            .then(async (value) => {
              // Another connection (PostgreSQL) sees the row once the caller is answered.
              visible.push((await site.db('gc_probe').where({ n }).first()) !== undefined);
              return value;
            }),
        ),
      ),
    );
    const three = results[3];
    t.true(three?.status === 'rejected' && isUpcatError(three.reason));
    for (const [n, r] of results.entries()) {
      if (n === 3) continue;
      // Each work ran in its own caller's async context.
      t.deepEqual(r, { status: 'fulfilled', value: n });
    }
    t.is(flaky, 2);
    t.deepEqual(
      ((await site.db('gc_probe').orderBy('n').select('n')) as Array<{ n: number }>).map((r) =>
        Number(r.n),
      ),
      [0, 1, 2, 4, 5, 6, 7, 8, 9, 10, 11],
    );
    t.is(visible.length, 11);
    t.true(visible.every(Boolean));
  },
);
