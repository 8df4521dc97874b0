/**
 * GetConfig's answer ([MS-WUSP] 2.2.2.2.1, 3.1.5.2) and its LastChange. The answer names the
 * SimpleTargeting plug-in (2.2.2.2.1: the server MUST) on the SimpleAuth service and requires
 * registration, so that approval and blocking apply to Windows computers. LastChange is kept in
 * `wusp_state` with a fingerprint of the answer: when the answer changes (another page size,
 * another protocol version after an upgrade), LastChange moves, and cookies issued under the old
 * configuration get ConfigChanged (3.1.5.4, 3.1.5.7).
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Db } from '../../storage/db.js';
import type { ConfigAnswer } from './contract.js';

export interface WuspSettings {
  /** MaxExtendedUpdatesPerRequest (3.1.5.9). */
  maxExtendedUpdatesPerRequest: number;
  /** At most this many NewUpdates per SyncUpdates answer (Truncated past it; note <55>). */
  syncPageSize: number;
  /** How long a cookie lives. */
  cookieLifetimeMs: number;
  /** How long an authorization cookie lives. */
  authorizationLifetimeMs: number;
}

export const DEFAULT_SETTINGS: Readonly<WuspSettings> = {
  maxExtendedUpdatesPerRequest: 50,
  syncPageSize: 200,
  cookieLifetimeMs: 4 * 24 * 3600_000,
  authorizationLifetimeMs: 24 * 3600_000,
};

/** The ProtocolVersion upcat speaks, as WSUS 3.0 SP2 and later report it (StartCategoryScan is served). */
export const SERVER_PROTOCOL_VERSION = '3.2';

export const PLUG_IN_ID = 'SimpleTargeting';

function configBody(settings: WuspSettings): Omit<ConfigAnswer, 'lastChange'> {
  return {
    isRegistrationRequired: true,
    plugIn: { id: PLUG_IN_ID, serviceUrl: 'SimpleAuthWebService/SimpleAuth.asmx', parameter: '' },
    properties: [
      ['MaxExtendedUpdatesPerRequest', String(settings.maxExtendedUpdatesPerRequest)],
      ['ProtocolVersion', SERVER_PROTOCOL_VERSION],
      ['IsInventoryRequired', '0'],
      ['ClientReportingLevel', '2'],
    ],
  };
}

export interface ServerState {
  serverId: string;
  config: ConfigAnswer;
}

/**
 * Reads (or makes, on first use) this server's identity and the configuration's LastChange,
 * moving LastChange when the answer's fingerprint differs from the stored one. Several nodes
 * may race on first use: the insert is ignored on conflict and the row read back.
 */
export async function loadServerState(db: Db, settings: WuspSettings): Promise<ServerState> {
  const body = configBody(settings);
  const fingerprint = createHash('sha256').update(JSON.stringify(body)).digest('hex');
  const at = new Date().toISOString();
  await db('wusp_state')
    .insert({ id: 1, server_id: randomUUID(), config_fingerprint: fingerprint, last_change: at })
    .onConflict('id')
    .ignore();
  let row = (await db('wusp_state').where({ id: 1 }).first()) as {
    server_id: string;
    config_fingerprint: string;
    last_change: string;
  };
  if (row.config_fingerprint !== fingerprint) {
    await db('wusp_state')
      .where({ id: 1 })
      .update({ config_fingerprint: fingerprint, last_change: at });
    row = { ...row, config_fingerprint: fingerprint, last_change: at };
  }
  return { serverId: row.server_id, config: { ...body, lastChange: Date.parse(row.last_change) } };
}
