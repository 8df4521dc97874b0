import type { Knex } from 'knex';

/**
 * Automatic maintenance (issue 13 item 3): a lease row so that one node at a time runs it, and
 * the per client / update / revision / state counts that old state messages are rolled up into.
 */
export async function up(db: Knex): Promise<void> {
  await db.schema.createTable('maintenance_leases', (t) => {
    t.string('name', 32).primary();
    t.string('owner', 128).notNullable();
    t.string('expires_at', 32).notNullable();
  });
  await db.schema.createTable('state_message_rollups', (t) => {
    /** client, topic, update, revision and state joined: one row per combination. */
    t.string('rollup_key', 320).primary();
    t.string('client_id', 36).nullable().index();
    t.string('topic', 32).notNullable();
    t.string('update_id', 36).nullable();
    t.integer('revision_number').nullable();
    t.string('state', 32).notNullable();
    t.bigInteger('count').notNullable();
    t.string('first_received_at', 32).notNullable();
    t.string('last_received_at', 32).notNullable();
    t.index(['update_id', 'revision_number']);
  });
}

export async function down(db: Knex): Promise<void> {
  await db.schema.dropTableIfExists('state_message_rollups');
  await db.schema.dropTableIfExists('maintenance_leases');
}
