import type { Knex } from 'knex';

/**
 * Contacts as heap-only updates on PostgreSQL (issue 16). Every sync that finds a client's
 * `last_contact` older than five minutes moves it (src/site/contacts.ts), so on patch day nearly
 * every client's row is updated once. PostgreSQL writes an update as a new row version; when no
 * indexed column changed and the row's page has room, the new version stays on that page and no
 * index is touched (a heap-only, HOT, update). With `last_contact` indexed and pages filled full,
 * each contact wrote all eight index entries of the row again: measured on 50,000 clients
 * (bench/contact-writes.ts), 1,500 bytes of WAL and 54 ms per 1,000 contacts, against 339 bytes
 * and 9 ms once the index is gone and pages keep 30 % free. The index served only the "not seen
 * for N days" report and filter, which now read the table: a report, not a request path.
 *
 * SQLite has no such update path (an update rewrites the row's b-tree cell wherever it is), but
 * the index cost it too: each contact also deleted an entry from a random index page. Without it,
 * 1,232 bytes are written per contact instead of 1,862 (after a checkpoint; 1,648 against 2,055
 * after), and 19 ms per 1,000 instead of 23 (bench/contact-writes.ts, 20,000 clients). So the
 * index goes on both engines, and only the free space is PostgreSQL's.
 *
 * On PostgreSQL, pages written before this migration stay full until updates move their rows; `VACUUM FULL
 * clients` rewrites them at once (docs/OPERATIONS.md).
 */
export async function up(db: Knex): Promise<void> {
  await db.schema.alterTable('clients', (t) => {
    t.dropIndex(['last_contact']);
  });
  if (isPostgres(db)) await db.raw('alter table clients set (fillfactor = 70)');
}

export async function down(db: Knex): Promise<void> {
  if (isPostgres(db)) await db.raw('alter table clients reset (fillfactor)');
  await db.schema.alterTable('clients', (t) => {
    t.index(['last_contact']);
  });
}

function isPostgres(db: Knex): boolean {
  return db.client.config.client === 'pg';
}
