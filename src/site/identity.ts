import { UpcatError } from '../errors.js';
import {
  catalogVersionColumn,
  findClientForRequest,
  normalizeClient,
  type ClientRow,
  type Q,
} from './client-repo.js';
import { clientIdOfSecret, secretMatches } from './secrets.js';

/**
 * Who a request is (mixed mode, DESIGN.md §3): the client whose secret it carries. Blocked
 * clients are refused with `client_blocked` on every client route; a record that a newer
 * registration replaced no longer authenticates.
 */
export async function authenticateSecret(q: Q, secret: string): Promise<ClientRow> {
  const clientId = clientIdOfSecret(secret);
  const row = clientId === undefined ? undefined : await findClientForRequest(q, clientId);
  if (row === undefined || !secretMatches(secret, row.secret_hash)) {
    throw new UpcatError('unauthorized', 'Authorization: unknown client secret');
  }
  return usable(row);
}

/**
 * Native mode (issue 5 item 6): the client a TLS client certificate was issued to, by its
 * serial. The TLS layer has already verified the chain to the site CA; this maps it to a record
 * and refuses a revoked certificate as the block it stands for.
 */
export async function authenticateCertificate(q: Q, serial: string): Promise<ClientRow> {
  const row = (await q('client_certificates as c')
    .join('clients as k', 'k.client_id', 'c.client_id')
    .where('c.serial', serial)
    .first('k.*', 'c.revoked_at as certificate_revoked_at', catalogVersionColumn(q))) as
    (Record<string, unknown> & { certificate_revoked_at: string | null }) | undefined;
  if (row === undefined) {
    throw new UpcatError('unauthorized', 'client certificate: not issued to a client of this site');
  }
  const { certificate_revoked_at: revokedAt, ...client } = row;
  if (revokedAt !== null) {
    throw new UpcatError(
      'client_blocked',
      `client certificate ${serial} was revoked (client ${String(client['client_id'])} is blocked)`,
    );
  }
  return usable(normalizeClient(client));
}

function usable(row: ClientRow): ClientRow {
  if (row.blocked) {
    throw new UpcatError(
      'client_blocked',
      `client ${row.client_id} is blocked by an administrator`,
    );
  }
  if (row.record_state === 'obsolete') {
    // A code of its own (issue 13 item 4): the agent re-registers by itself on this refusal.
    throw new UpcatError(
      'client_replaced',
      `client ${row.client_id} was replaced by ${row.replaced_by ?? 'a newer registration'}; register again`,
    );
  }
  return row;
}
