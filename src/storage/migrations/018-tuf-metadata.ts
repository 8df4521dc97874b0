import type { Knex } from 'knex';

/**
 * TUF metadata as rows (issue 15 item 2, `storage.metadata: database`): one row per metadata
 * file, named as on disk. Version-prefixed rows (`3.snapshot.json`, `7.bins-2a.json`) are written
 * once and never change; `timestamp.json` and `root.json` are replaced in place, in the same
 * transaction as the versioned rows they name (src/signing/tuf-store-db.ts).
 */
export async function up(db: Knex): Promise<void> {
  await db.schema.createTable('tuf_metadata', (t) => {
    t.string('name', 128).primary();
    /** The metadata's signed.version: what nodes poll to see a new timestamp or root. */
    t.integer('version').notNullable();
    t.binary('bytes').notNullable();
    t.string('created_at', 32).notNullable();
  });
}

export async function down(db: Knex): Promise<void> {
  await db.schema.dropTable('tuf_metadata');
}
