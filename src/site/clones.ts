import { hash } from 'node:crypto';
import type { Logger } from 'pino';
import { UpcatError } from '../errors.js';
import { audit } from '../storage/catalog-repo.js';
import type { Db } from '../storage/db.js';
import type { ClientRow } from './client-repo.js';

/**
 * Cloned disks after registration (issue 5 item 3): the agent names the hardware it runs on in
 * every sync and status request. A client ID whose requests come from another hardware ID than
 * the record's is most likely a copied disk (or a moved secret); the record is flagged
 * `clone_suspected` once, with an audit row, and keeps being answered: a flag for an
 * administrator, not a refusal that would cut off the original machine too.
 */
export const HARDWARE_ID_HEADER = 'upcat-hardware-id';

/** The header's hardware ID, or undefined when absent; a malformed one is a 400. */
export function presentedHardwareId(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (!/^[\x20-\x7e]{1,128}$/.test(value)) {
    throw new UpcatError(
      'invalid_input',
      'Upcat-Hardware-Id: must be the hardware ID the client registered with (1-128 printable ASCII characters)',
    );
  }
  return value;
}

/**
 * What the sync fast path keeps to compare a presented hardware ID without the database: its
 * SHA-256 as a latin1 string (a hardware ID is no secret; the hash only bounds what is kept).
 */
export function hardwareIdHash(hardwareId: string): string {
  return hash('sha256', hardwareId, 'latin1');
}

/**
 * Flags the record when `presented` is not its hardware ID. Once: a record already flagged (or
 * flagged meanwhile by another node) writes nothing. True when this call flagged it.
 */
export async function noteHardwareId(
  deps: { db: Db; log: Logger },
  client: Pick<ClientRow, 'client_id' | 'hardware_id' | 'clone_suspected'>,
  presented: string | undefined,
): Promise<boolean> {
  if (presented === undefined || presented === client.hardware_id || client.clone_suspected)
    return false;
  const flagged = await deps.db.transaction(async (trx) => {
    const n = await trx('clients')
      .where({ client_id: client.client_id, clone_suspected: false })
      .update({ clone_suspected: true });
    if (n === 0) return false;
    await audit(trx, {
      actor: `client:${client.client_id}`,
      action: 'client.clone_suspected',
      target: client.client_id,
      detail: { hardwareId: client.hardware_id, presented },
    });
    return true;
  });
  if (flagged) {
    deps.log.warn(
      { clientId: client.client_id, hardwareId: client.hardware_id, presented },
      'client ID presented from another hardware ID',
    );
  }
  return flagged;
}
