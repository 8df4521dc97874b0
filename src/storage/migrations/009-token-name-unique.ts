import type { Knex } from 'knex';

/**
 * One live token per name (issue 7): `TokenService.create` checks for a clash before it inserts,
 * but on PostgreSQL two concurrent creates could both pass that check. A partial unique index
 * (revoked tokens free their name) makes the database the judge; both engines support it.
 */
export async function up(db: Knex): Promise<void> {
  await db.raw(
    'create unique index tokens_live_name_unique on tokens (name) where revoked_at is null',
  );
}

export async function down(db: Knex): Promise<void> {
  await db.raw('drop index tokens_live_name_unique');
}
