import { UpcatError } from '../errors.js';
import { findClient, type ClientRow, type Q } from './client-repo.js';
import { clientIdOfSecret, secretMatches } from './secrets.js';

/**
 * Who a request is (mixed mode, DESIGN.md §3): the client whose secret it carries. Blocked
 * clients are refused with `client_blocked` on every client route; a record that a newer
 * registration replaced no longer authenticates.
 */
export async function authenticateSecret(q: Q, secret: string): Promise<ClientRow> {
  const clientId = clientIdOfSecret(secret);
  const row = clientId === undefined ? undefined : await findClient(q, clientId);
  if (row === undefined || !secretMatches(secret, row.secret_hash)) {
    throw new UpcatError('unauthorized', 'Authorization: unknown client secret');
  }
  if (row.blocked) {
    throw new UpcatError(
      'client_blocked',
      `client ${row.client_id} is blocked by an administrator`,
    );
  }
  if (row.record_state === 'obsolete') {
    throw new UpcatError(
      'unauthorized',
      `client ${row.client_id} was replaced by ${row.replaced_by ?? 'a newer registration'}; register again`,
    );
  }
  return row;
}
