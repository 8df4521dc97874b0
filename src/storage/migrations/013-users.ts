import type { Knex } from 'knex';

/**
 * People's accounts and their login sessions (issue 14 item 4).
 * - `users`: a name (unique among accounts not removed, so a name can be given again after a
 *   removal while the audit log keeps meaning the old person by the old row), a role (`admin`,
 *   `operator`, `viewer`), and a self-describing scrypt string (site/passwords.ts), never the
 *   password. A removed account keeps its row with `removed_at` set.
 * - `sessions`: the session id is a 256-bit secret held only by the browser's cookie; the table
 *   keeps its SHA-256, so a copy of the database opens no session. The CSRF token is derived
 *   from the id (site/sessions.ts), so it needs no column. `last_seen_at` drives the idle
 *   expiry, `expires_at` is the absolute one, `revoked_at` is logout, a password change or the
 *   account's removal.
 */
export async function up(db: Knex): Promise<void> {
  await db.schema.createTable('users', (t) => {
    t.string('id', 36).primary();
    t.string('name', 64).notNullable();
    t.string('role', 16).notNullable();
    t.string('password_hash', 256).notNullable();
    t.string('created_at', 32).notNullable();
    t.string('changed_at', 32).notNullable();
    t.string('removed_at', 32).nullable();
  });
  await db.raw(
    'create unique index users_live_name_unique on users (name) where removed_at is null',
  );
  await db.schema.createTable('sessions', (t) => {
    t.string('id_hash', 64).primary();
    t.string('user_id', 36).notNullable().references('id').inTable('users').index();
    t.string('created_at', 32).notNullable();
    t.string('last_seen_at', 32).notNullable();
    t.string('expires_at', 32).notNullable();
    t.string('revoked_at', 32).nullable();
  });
}

export async function down(db: Knex): Promise<void> {
  await db.schema.dropTableIfExists('sessions');
  await db.schema.dropTableIfExists('users');
}
