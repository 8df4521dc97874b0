import type { Knex } from 'knex';

/**
 * What the MS-WUSP server (src/windows/wusp/, issue 12) keeps beyond the site's tables:
 * - `wusp_state`: this server's identity (a GUID sealed into every cookie, so a cookie from
 *   another server is told apart: ServerChanged) and the configuration's LastChange with the
 *   fingerprint of the GetConfig answer it stands for ([MS-WUSP] 3.1.5.2, 3.1.5.4).
 * - `wusp_revision_ids`: the server-local integer revision IDs ([MS-WUSP] 3.1.1 Revision Table),
 *   one per (UpdateID, RevisionNumber), for published revisions and for the category updates
 *   (company, product, classification) the server derives; never reused.
 * - `wusp_computers`: a Windows computer's SusClientId and the ComputerInfo of RegisterComputer
 *   (2.2.2.2.3), linked to the upcat client record it registered as; the client secret the
 *   registration service issued is kept sealed (AES-256-GCM), so a re-registration refreshes the
 *   same record instead of looking like a second machine.
 * - `wusp_content`: each payload as Windows Update Agents download it (wrapped in a signed CAB),
 *   with the SHA-1 and SHA-256 of the wrapped bytes that the File elements carry.
 * - `clients.channel`: how a client talks to the site (`agent` or `wusp`).
 */
export async function up(db: Knex): Promise<void> {
  await db.schema.createTable('wusp_state', (t) => {
    t.integer('id').primary();
    t.string('server_id', 36).notNullable();
    t.string('config_fingerprint', 64).notNullable();
    t.string('last_change', 32).notNullable();
  });

  await db.schema.createTable('wusp_revision_ids', (t) => {
    t.increments('id').primary();
    t.string('update_id', 36).notNullable();
    t.integer('revision_number').notNullable();
    t.string('created_at', 32).notNullable();
    t.unique(['update_id', 'revision_number']);
  });

  await db.schema.createTable('wusp_computers', (t) => {
    t.string('sus_client_id', 36).primary();
    t.string('client_id', 36).notNullable().references('client_id').inTable('clients');
    t.text('secret_sealed').notNullable();
    t.string('dns_name', 255).notNullable();
    t.string('os_version', 64).notNullable();
    t.string('os_locale', 32).nullable();
    t.string('os_description', 255).nullable();
    t.string('manufacturer', 255).nullable();
    t.string('model', 255).nullable();
    t.string('bios_version', 255).nullable();
    t.string('bios_name', 255).nullable();
    t.string('bios_release_date', 32).nullable();
    t.string('processor_architecture', 32).nullable();
    t.integer('suite_mask').nullable();
    t.integer('product_type').nullable();
    t.string('agent_version', 64).nullable();
    t.string('oem', 255).nullable();
    t.string('device_type', 255).nullable();
    t.string('firmware_version', 255).nullable();
    t.string('target_group', 128).nullable();
    t.string('registered_at', 32).notNullable();
    t.string('updated_at', 32).notNullable();
    t.index(['client_id']);
  });

  await db.schema.createTable('wusp_content', (t) => {
    t.string('source_sha256', 64).primary();
    t.string('wrapper', 32).notNullable();
    t.string('sha1', 40).notNullable().index();
    t.string('sha256', 64).notNullable();
    t.bigInteger('size').notNullable();
    t.string('created_at', 32).notNullable();
  });

  await db.schema.alterTable('clients', (t) => {
    t.string('channel', 16).notNullable().defaultTo('agent');
  });
}

export async function down(db: Knex): Promise<void> {
  await db.schema.alterTable('clients', (t) => {
    t.dropColumn('channel');
  });
  for (const table of ['wusp_content', 'wusp_computers', 'wusp_revision_ids', 'wusp_state']) {
    await db.schema.dropTableIfExists(table);
  }
}
