import type { Knex } from 'knex';

/**
 * The site's endpoint facts beyond 001 (issue 5): a per-client policy epoch (moved by approval,
 * blocking and group changes, which do not move the catalog version) so that a sync with nothing
 * new is answered from the anchor alone; how a client was trusted; clone and conflict links; and
 * the sender's own message ID and hardware ID on state messages.
 */
export async function up(db: Knex): Promise<void> {
  await db.schema.alterTable('clients', (t) => {
    t.integer('policy_epoch').notNullable().defaultTo(0);
    t.boolean('trusted').notNullable().defaultTo(false);
    /** The record whose hardware ID this one duplicates while it waits in `conflict`. */
    t.string('conflict_with', 36).nullable();
    /** Set when a client ID was presented from another hardware ID (a cloned disk). */
    t.string('cloned_from', 36).nullable();
    t.boolean('clone_suspected').notNullable().defaultTo(false);
    t.index(['record_state']);
    t.index(['last_contact']);
  });
  await db.schema.alterTable('state_messages', (t) => {
    t.string('reported_id', 64).nullable();
    t.string('hardware_id', 128).nullable();
    t.index(['update_id', 'revision_number']);
    t.index(['received_at']);
  });
  await db.schema.alterTable('client_groups', (t) => {
    t.index(['group_id']);
  });
}

export async function down(db: Knex): Promise<void> {
  await db.schema.alterTable('client_groups', (t) => {
    t.dropIndex(['group_id']);
  });
  await db.schema.alterTable('state_messages', (t) => {
    t.dropIndex(['received_at']);
    t.dropIndex(['update_id', 'revision_number']);
    t.dropColumn('reported_id');
    t.dropColumn('hardware_id');
  });
  await db.schema.alterTable('clients', (t) => {
    t.dropIndex(['last_contact']);
    t.dropIndex(['record_state']);
    for (const c of ['policy_epoch', 'trusted', 'conflict_with', 'cloned_from', 'clone_suspected'])
      t.dropColumn(c);
  });
}
