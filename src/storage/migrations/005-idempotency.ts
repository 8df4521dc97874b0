import type { Knex } from 'knex';

/**
 * Idempotency keys of `POST /v1/updates` (issue 7): one row per (actor, key). While a publish
 * runs the row is a lease (`in_progress`, `expires_at` renewed by its owner) so that a concurrent
 * or retried request with the same key never publishes twice; afterwards it holds the answer,
 * replayed until `expires_at` (24 h) and pruned lazily.
 */
export async function up(db: Knex): Promise<void> {
  await db.schema.createTable('idempotency_keys', (t) => {
    t.string('actor', 200).notNullable();
    t.string('key', 255).notNullable();
    t.string('state', 16).notNullable();
    /** A random ID per claiming request: only the owner of a lease may renew, complete or drop it. */
    t.string('owner', 32).notNullable();
    /** SHA-256 of the canonical JSON of the manifest and the payload's file name. */
    t.string('request_hash', 64).nullable();
    t.string('payload_sha256', 64).nullable();
    t.integer('status').nullable();
    t.text('body').nullable();
    t.string('created_at', 32).notNullable();
    t.string('expires_at', 32).notNullable().index();
    t.primary(['actor', 'key']);
  });
}

export async function down(db: Knex): Promise<void> {
  await db.schema.dropTable('idempotency_keys');
}
