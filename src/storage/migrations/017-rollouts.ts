import type { Knex } from 'knex';

/**
 * Rollouts and maintenance windows (issue 14 item 6). A rollout is an update taken through a
 * list of rings (groups), one at a time: each ring is a deployment made when the ring starts,
 * and the rollout engine starts the next one when the evidence of the current one is good
 * enough (site/rollouts.ts). Its steps are kept in `rollout_history` as well as the audit log,
 * so the console can draw a rollout without reading the whole log. A group's maintenance
 * windows are one row: the windows (JSON) and the fixed offset they are written in.
 */
export async function up(db: Knex): Promise<void> {
  await db.schema.createTable('rollouts', (t) => {
    t.increments('id').primary();
    t.string('name', 128).notNullable();
    t.string('update_id', 36).notNullable().references('update_id').inTable('updates');
    t.string('action', 16).notNullable(); // install | optional
    /** Each ring's deadline as an offset from its start (`3d`); null: no deadline. */
    t.string('deadline_offset', 16).nullable();
    t.string('status', 16).notNullable(); // running | paused | stopped | done | failed
    t.integer('current_ring').notNullable().defaultTo(0);
    t.string('created_at', 32).notNullable();
    t.string('created_by', 255).notNullable();
    t.index(['status', 'id']);
  });
  await db.schema.createTable('rollout_rings', (t) => {
    t.integer('rollout_id').notNullable().references('id').inTable('rollouts');
    t.integer('ring_index').notNullable();
    /** The group's name when the rollout was made; group_id follows a rename. */
    t.string('group_name', 128).notNullable();
    t.integer('group_id').nullable();
    t.integer('percent').notNullable();
    t.float('min_success').notNullable();
    t.integer('min_reporting').notNullable();
    t.string('wait', 16).notNullable();
    t.string('state', 16).notNullable(); // pending | active | done
    t.string('started_at', 32).nullable();
    t.string('done_at', 32).nullable();
    t.primary(['rollout_id', 'ring_index']);
  });
  await db.schema.createTable('rollout_history', (t) => {
    t.increments('id').primary();
    t.integer('rollout_id').notNullable().references('id').inTable('rollouts');
    t.string('at', 32).notNullable();
    t.string('step', 64).notNullable();
    t.string('actor', 255).notNullable();
    t.text('detail').nullable();
    t.index(['rollout_id', 'id']);
  });
  await db.schema.createTable('group_maintenance_windows', (t) => {
    t.integer('group_id').primary().references('id').inTable('groups').onDelete('CASCADE');
    t.string('timezone', 8).notNullable();
    t.text('windows').notNullable(); // JSON: [{days, start, duration}]
    t.string('updated_at', 32).notNullable();
  });
}

export async function down(db: Knex): Promise<void> {
  await db.schema.dropTableIfExists('group_maintenance_windows');
  await db.schema.dropTableIfExists('rollout_history');
  await db.schema.dropTableIfExists('rollout_rings');
  await db.schema.dropTableIfExists('rollouts');
}
