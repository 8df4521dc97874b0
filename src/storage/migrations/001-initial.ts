import type { Knex } from 'knex';

/**
 * The concepts of DESIGN.md §2. Published revisions are immutable rows; every change to what
 * clients see moves `catalog_state.version` and appends a `catalog_versions` row in the same
 * transaction, so readers see one whole catalog version or the previous one.
 */
export async function up(db: Knex): Promise<void> {
  await db.schema.createTable('catalog_state', (t) => {
    t.integer('id').primary();
    t.integer('version').notNullable();
  });
  await db('catalog_state').insert({ id: 1, version: 0 });

  await db.schema.createTable('catalog_versions', (t) => {
    t.integer('version').primary();
    t.string('reason', 32).notNullable(); // publish | expire | approve | ...
    t.string('update_id', 36).nullable();
    t.integer('revision_number').nullable();
    t.string('actor', 128).nullable();
    t.string('created_at', 32).notNullable();
  });

  await db.schema.createTable('blobs', (t) => {
    t.string('sha256', 64).primary();
    t.string('sha1', 40).notNullable().index();
    t.bigInteger('size').notNullable();
    t.string('created_at', 32).notNullable();
  });

  await db.schema.createTable('updates', (t) => {
    t.string('update_id', 36).primary();
    t.string('product', 256).notNullable();
    t.string('classification', 64).notNullable();
    t.string('state', 16).notNullable().defaultTo('active'); // active | expired | declined
    t.string('superseded_by', 36).nullable().references('update_id').inTable('updates');
    t.string('created_at', 32).notNullable();
    t.string('expired_at', 32).nullable();
    t.integer('latest_revision').notNullable();
  });

  await db.schema.createTable('revisions', (t) => {
    t.increments('id').primary();
    t.string('update_id', 36).notNullable().references('update_id').inTable('updates');
    t.integer('revision_number').notNullable();
    t.string('title', 512).notNullable();
    t.text('description').notNullable();
    t.string('product', 256).notNullable();
    t.string('classification', 64).notNullable();
    t.string('version', 64).notNullable();
    t.text('handler').notNullable(); // JSON
    t.text('is_installed').nullable(); // JSON rule
    t.text('is_installable').nullable(); // JSON rule
    /** SHA-256 of the canonical manifest (without updateId) plus the payload digest: idempotency key. */
    t.string('content_key', 64).notNullable();
    t.integer('catalog_version').notNullable().references('version').inTable('catalog_versions');
    t.string('created_at', 32).notNullable();
    t.unique(['update_id', 'revision_number']);
    t.index(['product', 'version']);
  });

  await db.schema.createTable('files', (t) => {
    t.increments('id').primary();
    t.integer('revision_id').notNullable().references('id').inTable('revisions');
    t.string('name', 255).notNullable();
    t.string('sha256', 64).notNullable().references('sha256').inTable('blobs');
    t.string('sha1', 40).notNullable();
    t.bigInteger('size').notNullable();
    t.string('kind', 16).notNullable(); // file | package
    t.index(['sha256']);
  });

  await db.schema.createTable('relationships', (t) => {
    t.increments('id').primary();
    t.integer('revision_id').notNullable().references('id').inTable('revisions');
    t.string('kind', 16).notNullable(); // prerequisite | supersedes | bundles
    /** For prerequisites: which OR-group (the groups are ANDed). */
    t.integer('group_index').notNullable().defaultTo(0);
    t.string('target_update_id', 36).notNullable().references('update_id').inTable('updates');
    t.index(['target_update_id']);
  });

  await db.schema.createTable('groups', (t) => {
    t.increments('id').primary();
    t.string('name', 128).notNullable().unique();
    t.boolean('builtin').notNullable().defaultTo(false);
    t.string('created_at', 32).notNullable();
  });
  const now = new Date().toISOString();
  await db('groups').insert([
    { name: 'All Computers', builtin: true, created_at: now },
    { name: 'Unassigned', builtin: true, created_at: now },
  ]);

  await db.schema.createTable('clients', (t) => {
    t.string('client_id', 36).primary();
    t.string('hardware_id', 128).notNullable().index();
    t.string('name', 255).notNullable();
    t.string('os', 128).notNullable();
    t.string('architecture', 16).notNullable();
    t.string('client_version', 64).notNullable();
    t.string('secret_hash', 128).nullable();
    t.string('approval', 16).notNullable(); // approved | pending
    t.boolean('blocked').notNullable().defaultTo(false);
    t.string('record_state', 16).notNullable(); // active | conflict | obsolete
    t.string('replaced_by', 36).nullable();
    t.string('created_at', 32).notNullable();
    t.string('last_contact', 32).nullable();
  });

  await db.schema.createTable('client_groups', (t) => {
    t.string('client_id', 36).notNullable().references('client_id').inTable('clients');
    t.integer('group_id').notNullable().references('id').inTable('groups');
    t.primary(['client_id', 'group_id']);
  });

  await db.schema.createTable('deployments', (t) => {
    t.increments('id').primary();
    t.string('update_id', 36).notNullable().references('update_id').inTable('updates');
    t.integer('group_id').notNullable().references('id').inTable('groups');
    t.string('action', 16).notNullable(); // install | uninstall | optional
    t.string('deadline', 32).nullable();
    t.integer('percent').notNullable().defaultTo(100);
    t.integer('catalog_version').notNullable().references('version').inTable('catalog_versions');
    t.string('created_at', 32).notNullable();
    t.unique(['update_id', 'group_id']);
  });

  await db.schema.createTable('state_messages', (t) => {
    t.string('message_id', 64).primary(); // stored once however often it is sent
    t.string('client_id', 36).nullable().index();
    t.boolean('authenticated').notNullable();
    t.string('topic', 32).notNullable(); // update | client
    t.string('update_id', 36).nullable();
    t.integer('revision_number').nullable();
    t.string('state', 32).notNullable();
    t.integer('code').nullable();
    t.text('detail').nullable(); // JSON
    t.string('source', 64).nullable();
    t.string('sent_at', 32).nullable();
    t.string('received_at', 32).notNullable();
  });

  await db.schema.createTable('tokens', (t) => {
    t.string('id', 36).primary();
    t.string('name', 128).notNullable();
    t.string('scope', 16).notNullable(); // publish | approve | admin
    t.string('token_hash', 128).notNullable().unique();
    t.string('created_at', 32).notNullable();
    t.string('expires_at', 32).nullable();
    t.string('revoked_at', 32).nullable();
    t.string('last_used_at', 32).nullable();
  });

  await db.schema.createTable('audit_log', (t) => {
    t.increments('id').primary();
    t.string('at', 32).notNullable().index();
    t.string('actor', 128).notNullable();
    t.string('action', 64).notNullable();
    t.string('target', 256).nullable();
    t.text('detail').nullable(); // JSON
    t.string('source', 64).nullable();
  });
}

export async function down(db: Knex): Promise<void> {
  for (const table of [
    'audit_log',
    'tokens',
    'state_messages',
    'deployments',
    'client_groups',
    'clients',
    'groups',
    'relationships',
    'files',
    'revisions',
    'updates',
    'blobs',
    'catalog_versions',
    'catalog_state',
  ]) {
    await db.schema.dropTableIfExists(table);
  }
}
