import type { Knex } from 'knex';

/**
 * A counter that moves, in the committing transaction, whenever a fact a server caches about a
 * client changes (approval, blocking, replacement, secret, policy epoch). Servers poll it with
 * the catalog version to keep their in-memory sync path honest across processes and nodes
 * (src/storage/changes.ts). Triggers rather than application code, so that no write path (a
 * future one included) can forget it; `last_contact`, written constantly, is left out.
 */
const WATCHED = [
  'approval',
  'blocked',
  'record_state',
  'replaced_by',
  'secret_hash',
  'policy_epoch',
  'trusted',
];

export async function up(db: Knex): Promise<void> {
  await db.schema.createTable('change_counters', (t) => {
    t.string('name', 32).primary();
    t.bigInteger('value').notNullable().defaultTo(0);
  });
  await db('change_counters').insert({ name: 'clients', value: 0 });
  const bump = "update change_counters set value = value + 1 where name = 'clients'";
  if ((db.client.config.client as string) === 'pg') {
    // Unqualified names resolve through the connection's search_path, so a site in its own schema works.
    await db.raw(
      `create or replace function upcat_clients_changed() returns trigger language plpgsql as $$ begin ${bump}; return null; end $$`,
    );
    await db.raw(
      `create trigger clients_changed_update after update of ${WATCHED.join(', ')} on clients for each statement execute function upcat_clients_changed()`,
    );
    await db.raw(
      'create trigger clients_changed_delete after delete on clients for each statement execute function upcat_clients_changed()',
    );
    return;
  }
  await db.raw(
    `create trigger clients_changed_update after update of ${WATCHED.join(', ')} on clients begin ${bump}; end`,
  );
  await db.raw(`create trigger clients_changed_delete after delete on clients begin ${bump}; end`);
}

export async function down(db: Knex): Promise<void> {
  await db.raw('drop trigger if exists clients_changed_update' + onClients(db));
  await db.raw('drop trigger if exists clients_changed_delete' + onClients(db));
  if ((db.client.config.client as string) === 'pg')
    await db.raw('drop function if exists upcat_clients_changed()');
  await db.schema.dropTable('change_counters');
}

function onClients(db: Knex): string {
  return (db.client.config.client as string) === 'pg' ? ' on clients' : '';
}
