import type { Knex } from 'knex';

/**
 * Each revision's WSUS-style update metadata document (issue 3 item 4) lives in the content pool
 * like a payload; the revision row names it, so the TUF targets can be rebuilt from the database.
 */
export async function up(db: Knex): Promise<void> {
  await db.schema.alterTable('revisions', (t) => {
    t.string('document_sha256', 64).nullable();
    t.bigInteger('document_size').nullable();
  });
}

export async function down(db: Knex): Promise<void> {
  await db.schema.alterTable('revisions', (t) => {
    t.dropColumn('document_sha256');
    t.dropColumn('document_size');
  });
}
