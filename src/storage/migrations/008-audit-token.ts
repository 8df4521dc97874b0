import type { Knex } from 'knex';

/**
 * The token behind each audit row (issue 7): the actor is `token:<name>` for readability, but a
 * name is free again once its token is revoked, so two tokens can share it. `token_id` (the
 * tokens row's id) says which one it was; null for local commands, clients and older rows.
 */
export async function up(db: Knex): Promise<void> {
  await db.schema.alterTable('audit_log', (t) => {
    t.string('token_id', 36).nullable();
  });
}

export async function down(db: Knex): Promise<void> {
  await db.schema.alterTable('audit_log', (t) => {
    t.dropColumn('token_id');
  });
}
