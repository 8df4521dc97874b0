import type { Knex } from 'knex';

/**
 * Declined updates (issue 14 item 1): when an update was declined, and an index for the order of
 * the updates list. `updates.state` already names `declined`; a decline leaves `expired_at` empty
 * on purpose, because garbage collection (ops/gc/payloads.ts) frees the payloads of an update
 * gone since `expired_at`, and a declined update must keep them: an undecline puts it back as it
 * was.
 */
export async function up(db: Knex): Promise<void> {
  await db.schema.alterTable('updates', (t) => {
    t.string('declined_at', 32).nullable();
  });
  // The updates list (site/update-query.ts) reads newest published first, the update ID breaking
  // ties: with this index a page is an index walk from the cursor, not a sort of every update.
  await db.schema.alterTable('revisions', (t) => {
    t.index(['created_at', 'update_id'], 'revisions_published');
  });
}

export async function down(db: Knex): Promise<void> {
  await db.schema.alterTable('revisions', (t) => {
    t.dropIndex(['created_at', 'update_id'], 'revisions_published');
  });
  await db.schema.alterTable('updates', (t) => {
    t.dropColumn('declined_at');
  });
}
