/**
 * Issue 15 item 6 (the capacity model): what the database writes for clients that sync hourly.
 * A sync with nothing new sends no statement (the fast path), but each client's `last_contact`
 * moves once per sync when syncs are an hour apart (contacts.ts keeps it at most 5 minutes
 * stale), written behind the requests by ContactRecorder, 500 clients per UPDATE. This measures
 * the storage that costs per client on SQLite (bytes the process wrote, WAL and checkpoints,
 * from /proc/self/io) and on PostgreSQL when BENCH_DATABASE_URL is set (WAL bytes generated,
 * from pg_current_wal_lsn), with clients arriving in random order as hourly syncs do.
 * Reference, same run, same engine: a narrow table holding only (client_id, last_contact),
 * updated the same way; the ratio says what the clients table's width and indexes add.
 * Run: node --import tsx bench/contact-writes.ts   (BENCH_CLIENTS, default 50,000)
 */
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import pino from 'pino';
import { initSite, openSite, type Site } from '../src/app.js';
import { ContactRecorder } from '../src/site/contacts.js';
import type { Db } from '../src/storage/db.js';
import { usePostgresIfAsked } from './sim.js';
import type { BenchResult } from './types.js';
import { workDir } from './util.js';

const CLIENTS = Number(process.env['BENCH_CLIENTS'] ?? 50_000);
const CHUNK = 500;

interface Pass {
  bytesPerClient: number;
  statements: number;
  ms: number;
}

export async function run(): Promise<BenchResult> {
  const dir = await workDir('contact-writes');
  const home = path.join(dir, `site-${Date.now()}`);
  const env: NodeJS.ProcessEnv = { UPCAT_HOME: home };
  await usePostgresIfAsked(env, 'bench_contact_writes');
  await initSite({ home, env });
  const site = await openSite({ home, env, logLevel: 'silent' });
  try {
    const engine = site.db.client.config.client === 'pg' ? 'PostgreSQL' : 'SQLite';
    const ids = await bulkClients(site);
    await site.db.schema.createTable('contact_reference', (t) => {
      t.string('client_id', 36).primary();
      t.string('last_contact', 32);
    });
    for (let i = 0; i < ids.length; i += CHUNK) {
      await site
        .db('contact_reference')
        .insert(ids.slice(i, i + CHUNK).map((id) => ({ client_id: id, last_contact: null })));
    }
    // Two passes each: the first after a checkpoint (PostgreSQL then logs a full page image for
    // every page a pass touches first; SQLite's WAL starts empty), the second straight after.
    const upcat = [await contacts(site, ids, true), await contacts(site, ids, false)];
    const reference = [await narrow(site.db, ids, true), await narrow(site.db, ids, false)];
    const ratio =
      Math.round(
        ((upcat[0] as Pass).bytesPerClient / Math.max(1, (reference[0] as Pass).bytesPerClient)) *
          10,
      ) / 10;
    return {
      name: `contact-writes (${engine})`,
      figures: {
        clients: CLIENTS,
        'bytes written per client contact, after a checkpoint': (upcat[0] as Pass).bytesPerClient,
        'bytes written per client contact, second pass': (upcat[1] as Pass).bytesPerClient,
        'UPDATE statements per 1,000 contacts': Math.round(
          ((upcat[0] as Pass).statements / CLIENTS) * 1000,
        ),
        'ms per 1,000 contacts (wall)': Math.round(((upcat[0] as Pass).ms / CLIENTS) * 1000),
        'reference bytes per client, after a checkpoint': (reference[0] as Pass).bytesPerClient,
        'reference bytes per client, second pass': (reference[1] as Pass).bytesPerClient,
      },
      reference:
        'a narrow (client_id, last_contact) table updated the same way (ratio: bytes per contact after a checkpoint)',
      ratio,
    };
  } finally {
    await site.db.schema.dropTableIfExists('contact_reference');
    await site.close();
  }
}

/** Every client's contact recorded once, through the real ContactRecorder, in random order. */
async function contacts(site: Site, ids: string[], checkpoint: boolean): Promise<Pass> {
  const recorder = new ContactRecorder({ db: site.db, log: pino({ level: 'silent' }) });
  let statements = 0;
  const count = (): void => {
    statements += 1;
  };
  site.db.on('query', count);
  try {
    return await measured(site.db, checkpoint, async () => {
      for (const id of shuffled(ids)) recorder.touch({ client_id: id, last_contact: null });
      await recorder.flush();
    }).then((pass) => ({ ...pass, statements }));
  } finally {
    site.db.off('query', count);
  }
}

async function narrow(db: Db, ids: string[], checkpoint: boolean): Promise<Pass> {
  return measured(db, checkpoint, async () => {
    const order = shuffled(ids);
    const at = new Date().toISOString();
    for (let i = 0; i < order.length; i += CHUNK) {
      await db('contact_reference')
        .whereIn('client_id', order.slice(i, i + CHUNK))
        .update({ last_contact: at });
    }
  });
}

async function measured(db: Db, checkpoint: boolean, work: () => Promise<void>): Promise<Pass> {
  const pg = db.client.config.client === 'pg';
  if (checkpoint) {
    if (pg) await db.raw('checkpoint');
    else await db.raw('pragma wal_checkpoint(TRUNCATE)');
  }
  const before = pg ? await walLsn(db) : await processWriteBytes();
  const start = process.hrtime.bigint();
  await work();
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  let bytes: number;
  if (pg) {
    const row = (await db.raw('select pg_wal_lsn_diff(pg_current_wal_lsn(), ?) as d', [before]))
      .rows[0] as { d: string };
    bytes = Number(row.d);
  } else {
    // What SQLite would write anyway at its next checkpoint belongs to this pass too.
    await db.raw('pragma wal_checkpoint(TRUNCATE)');
    bytes = (await processWriteBytes()) - Number(before);
  }
  return { bytesPerClient: Math.round(bytes / CLIENTS), statements: 0, ms };
}

async function walLsn(db: Db): Promise<string> {
  const row = (await db.raw('select pg_current_wal_lsn() as l')).rows[0] as { l: string };
  return row.l;
}

/** Bytes this process caused to be written to storage (Linux /proc/self/io write_bytes). */
async function processWriteBytes(): Promise<number> {
  const io = await readFile('/proc/self/io', 'utf8');
  const m = /^write_bytes: (\d+)$/m.exec(io);
  return Number(m?.[1] ?? 0);
}

function shuffled<T>(items: T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

/** Client records in batches, as registrations and approvals would leave them. */
async function bulkClients(site: Site): Promise<string[]> {
  const at = new Date().toISOString();
  const ids: string[] = [];
  await site.db.transaction(async (trx) => {
    for (let i = 0; i < CLIENTS; i += CHUNK) {
      const rows = [];
      for (let j = i; j < Math.min(CLIENTS, i + CHUNK); j++) {
        const id = randomUUID();
        ids.push(id);
        rows.push({
          client_id: id,
          hardware_id: `bench-${j}`,
          name: `pc-${j}.bench.test`,
          os: 'linux debian 12',
          architecture: 'x64',
          client_version: '1.0.0',
          secret_hash: null,
          approval: 'approved',
          blocked: false,
          record_state: 'active',
          created_at: at,
          last_contact: null,
          trusted: false,
          channel: 'native',
        });
      }
      await trx('clients').insert(rows);
    }
  });
  return ids;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href)
  console.log(JSON.stringify(await run(), null, 2));
