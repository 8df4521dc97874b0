import type { Knex } from 'knex';

/**
 * Native mode (issue 5 items 5-6): the client certificates the site CA issued, so that a TLS
 * client's certificate serial maps to its client record and a blocked client's certificates can
 * be listed in the CRL; and the certificate request a pending client sent, kept until approval.
 */
export async function up(db: Knex): Promise<void> {
  await db.schema.createTable('client_certificates', (t) => {
    /** Lower-case hex without leading zeros: the form both node-forge and Node's TLS agree on. */
    t.string('serial', 40).primary();
    t.string('client_id', 36).notNullable().references('client_id').inTable('clients').index();
    t.text('certificate_pem').notNullable();
    t.string('not_before', 32).notNullable();
    t.string('not_after', 32).notNullable();
    t.string('issued_at', 32).notNullable();
    t.string('revoked_at', 32).nullable().index();
  });
  await db.schema.alterTable('clients', (t) => {
    t.text('csr_pem').nullable();
  });
}

export async function down(db: Knex): Promise<void> {
  await db.schema.alterTable('clients', (t) => {
    t.dropColumn('csr_pem');
  });
  await db.schema.dropTable('client_certificates');
}
