import type { Knex } from 'knex';

/**
 * Each site key's public fingerprint (issue 15 item 3): the policy key and the anchor key are
 * made once per site, and every node sharing the database must hold the same ones. The first
 * node (or `upcat init`) records a fingerprint; a node whose key files differ refuses to start
 * (src/sync/site-keys.ts agreeSiteKeys). No private material is stored here.
 */
export async function up(db: Knex): Promise<void> {
  await db.schema.createTable('site_keys', (t) => {
    t.string('name', 32).primary();
    t.string('fingerprint', 128).notNullable();
    t.string('created_at', 32).notNullable();
  });
}

export async function down(db: Knex): Promise<void> {
  await db.schema.dropTable('site_keys');
}
