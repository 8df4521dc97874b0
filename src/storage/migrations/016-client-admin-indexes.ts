import type { Knex } from 'knex';

/**
 * The clients list of the admin API (issue 14 item 1) pages in (created_at, client_id) order
 * with a keyset condition: this index answers it without sorting 100,000 rows. The second one
 * serves the filters an administrator uses most, pending approvals and conflicts, in the same
 * order; blocked clients are few, so their index keeps that filter from scanning every record.
 */
export async function up(db: Knex): Promise<void> {
  await db.schema.alterTable('clients', (t) => {
    t.index(['created_at', 'client_id'], 'clients_created_order');
    t.index(['record_state', 'approval', 'created_at', 'client_id'], 'clients_status_order');
    t.index(['blocked', 'created_at', 'client_id'], 'clients_blocked_order');
  });
}

export async function down(db: Knex): Promise<void> {
  await db.schema.alterTable('clients', (t) => {
    t.dropIndex(['blocked', 'created_at', 'client_id'], 'clients_blocked_order');
    t.dropIndex(['record_state', 'approval', 'created_at', 'client_id'], 'clients_status_order');
    t.dropIndex(['created_at', 'client_id'], 'clients_created_order');
  });
}
