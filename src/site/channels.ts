import type { Q } from './client-repo.js';

/** How a client talks to the site: upcat's agent, or Windows' own Windows Update Agent (MS-WUSP). */
export type Channel = 'agent' | 'wusp';

/** The channel of each client (`clients.channel`, migration 011), by client ID. */
export async function channelsOf(
  q: Q,
  clientIds: readonly string[],
): Promise<Map<string, Channel>> {
  const out = new Map<string, Channel>();
  // Chunked like groupsOf, under the databases' parameter limits.
  for (let i = 0; i < clientIds.length; i += 500) {
    const rows = (await q('clients')
      .whereIn('client_id', clientIds.slice(i, i + 500))
      .select('client_id', 'channel')) as Array<{ client_id: string; channel: string }>;
    for (const r of rows) out.set(r.client_id, r.channel === 'wusp' ? 'wusp' : 'agent');
  }
  return out;
}
