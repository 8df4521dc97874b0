import type { Db } from '../../storage/db.js';

/**
 * Obsolete client records (issue 13 item 3): a record another registration of its machine
 * replaced (`record_state = obsolete`) and not heard from for `retention.obsoleteClientDays`
 * is deleted with its group memberships and certificates, each client in its own transaction.
 * A record with a revoked certificate that has not expired yet stays: the CRL must list it.
 */
export async function collectObsoleteClients(
  db: Db,
  cutoffIso: string,
  nowIso: string,
  dryRun: boolean,
): Promise<number> {
  const candidates = (await db('clients')
    .where({ record_state: 'obsolete' })
    .andWhereRaw('coalesce(last_contact, created_at) < ?', [cutoffIso])
    .whereNotExists(function revokedStillValid() {
      this.select(db.raw('1'))
        .from('client_certificates as c')
        .whereRaw('c.client_id = clients.client_id')
        .whereNotNull('c.revoked_at')
        .where('c.not_after', '>', nowIso);
    })
    .select('client_id')) as Array<{ client_id: string }>;
  if (dryRun) return candidates.length;
  let deleted = 0;
  for (const { client_id: id } of candidates) {
    try {
      deleted += await db.transaction(async (trx) => {
        await trx('client_groups').where({ client_id: id }).delete();
        await trx('client_certificates').where({ client_id: id }).delete();
        return Number(
          await trx('clients').where({ client_id: id, record_state: 'obsolete' }).delete(),
        );
      });
    } catch {
      // Another table still names the record (a feature newer than this collector): keep it.
    }
  }
  return deleted;
}
