import type { Knex } from 'knex';

/**
 * Vendor catalogs imported faithfully (issue 11 items 1-3).
 *
 * - `revisions.awaiting_content`: a revision published from a vendor catalog without its payload
 *   (`import-catalog --metadata-only`). It has no files row and no TUF target, and the sync policy
 *   never offers it. Revisions stay immutable: when the payload arrives and matches the vendor's
 *   digest, a new revision (same metadata, with the file) is published.
 * - `vendor_revisions`: what the vendor's SDP says beyond the publish manifest, one row per
 *   revision imported from a catalog: vendor name, the whole manifest as imported (supersedes
 *   uncapped, for `content add` and export), the vendor metadata as JSON (dates, severity, KB,
 *   bulletin, CVEs, URLs, reboot behaviour, the OriginFile), and the expected payload (SHA-1 hex,
 *   size, SHA-256 when the vendor gives an AdditionalDigest, origin URL, file name) in columns.
 * - `pending_references`: supersedence and prerequisites naming updates the site does not have
 *   yet (vendors list their whole history). They cannot be `relationships` rows (those reference
 *   `updates`); they move there when the named update arrives.
 */
export async function up(db: Knex): Promise<void> {
  await db.schema.alterTable('revisions', (t) => {
    t.boolean('awaiting_content').notNullable().defaultTo(false);
  });
  await db.schema.createTable('vendor_revisions', (t) => {
    t.integer('revision_id').primary().references('id').inTable('revisions');
    t.string('vendor', 200).nullable();
    t.text('manifest').notNullable(); // JSON: the manifest as imported
    t.text('metadata').notNullable(); // JSON: VendorMetadata (src/publish/sdp/vendor-metadata.ts)
    t.string('expected_sha1', 40).nullable();
    t.bigInteger('expected_size').nullable();
    t.string('expected_sha256', 64).nullable();
    t.string('origin_file_name', 256).nullable();
    t.text('origin_uri').nullable();
    t.index(['expected_sha1']);
  });
  await db.schema.createTable('pending_references', (t) => {
    t.increments('id').primary();
    t.integer('revision_id').notNullable().references('id').inTable('revisions');
    t.string('update_id', 36).notNullable(); // the update whose revision names the target
    t.string('kind', 16).notNullable(); // supersedes | prerequisite
    t.integer('group_index').notNullable().defaultTo(0);
    t.string('target_update_id', 36).notNullable().index();
  });
}

export async function down(db: Knex): Promise<void> {
  await db.schema.dropTableIfExists('pending_references');
  await db.schema.dropTableIfExists('vendor_revisions');
  await db.schema.alterTable('revisions', (t) => {
    t.dropColumn('awaiting_content');
  });
}
