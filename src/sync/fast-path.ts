import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import type { SiteConfig } from '../config/schema.js';
import { HARDWARE_ID_HEADER, hardwareIdHash } from '../site/clones.js';
import type { ContactRecorder } from '../site/contacts.js';
import type { ClientRow } from '../site/client-repo.js';
import { bearerOf, clientIdOfSecret, hashSecret } from '../site/secrets.js';
import type { ChangeWatcher } from '../storage/changes.js';
import type { Db } from '../storage/db.js';
import { SyncService } from './sync-service.js';

/** Clients read per query while warming (keyset pages: each is an index range scan). */
const WARM_CHUNK = 5_000;

/** What the nothing-new answer needs to know about a client; kept small (a million fit). */
interface Entry {
  secretHash: Buffer;
  /** The record's hardware ID (hashed, 16 bytes): a request naming other hardware is a clone check. */
  hardwareHash: Buffer;
  policyEpoch: number;
  lastContact: string | null;
}

/**
 * The sync with nothing new (issue 5 item 8), answered from memory: most of a site's traffic
 * (every endpoint, every hour) and the benchmark's target. Clients that authenticated through
 * the database path (client-auth.ts) are remembered; a later sync whose anchor is current for
 * the catalog version and the client's policy epoch gets its 304 before Express routing, with no
 * database read. Anything else (unknown client, stale anchor, a change in flight, a TLS client
 * certificate, an `Upcat-Hardware-Id` that is not the record's, a native-mode site, which takes
 * no secret for sync) falls through to the full path, which is the reference behaviour.
 *
 * Correctness rests on the ChangeWatcher: any change to a remembered fact (blocking, approval,
 * replacement, new secret, epoch) empties the memory, at once when made in this process and
 * within one poll interval when made by another; the catalog version is the watcher's.
 */
export class SyncFastPath {
  private readonly entries = new Map<string, Entry>();
  /** Syncs answered here (for /metrics and tests). */
  hits = 0;

  constructor(
    private readonly deps: {
      changes: ChangeWatcher;
      sync: SyncService;
      contacts: ContactRecorder;
      config: SiteConfig;
    },
    private readonly maxEntries: number,
  ) {
    deps.changes.onChange((clientsChanged) => {
      if (clientsChanged) this.entries.clear();
    });
  }

  get size(): number {
    return this.entries.size;
  }

  /** A change-watcher mark to take before reading a client from the database. */
  mark(): number | undefined {
    return this.deps.changes.mark();
  }

  /**
   * Loads every client that may sync into memory, in key order and in chunks, so that a server
   * that has just started answers from memory at once rather than after each client's first
   * sync (an hour, for endpoints that sync hourly). A chunk read while something changed is
   * dropped; those clients are remembered at their next sync through the database path.
   */
  async warm(db: Db, log: Logger): Promise<number> {
    if (this.maxEntries === 0) return 0;
    let after = '';
    let loaded = 0;
    for (;;) {
      const mark = this.mark();
      const rows = (await db('clients')
        .where('client_id', '>', after)
        .andWhere({ blocked: false })
        .whereNot({ record_state: 'obsolete' })
        .whereNotNull('secret_hash')
        .orderBy('client_id')
        .limit(WARM_CHUNK)
        .select(
          'client_id',
          'secret_hash',
          'hardware_id',
          'policy_epoch',
          'last_contact',
        )) as Array<{
        client_id: string;
        secret_hash: string;
        hardware_id: string;
        policy_epoch: number | string;
        last_contact: string | null;
      }>;
      if (rows.length === 0) break;
      after = rows[rows.length - 1]?.client_id ?? after;
      if (this.deps.changes.unchangedSince(mark)) {
        for (const r of rows) {
          if (this.entries.size >= this.maxEntries) return loaded;
          if (this.entries.has(r.client_id)) continue;
          this.entries.set(r.client_id, {
            secretHash: Buffer.from(r.secret_hash, 'hex'),
            hardwareHash: hardwareIdHash(r.hardware_id),
            policyEpoch: Number(r.policy_epoch),
            lastContact: r.last_contact,
          });
          loaded++;
        }
      }
      if (rows.length < WARM_CHUNK) break;
    }
    log.info({ clients: loaded }, 'sync fast path warmed');
    return loaded;
  }

  /** Remembers a client the database path authenticated, when nothing changed since `mark`. */
  remember(row: ClientRow, mark: number | undefined): void {
    if (this.maxEntries === 0 || row.secret_hash === null) return;
    if (!this.deps.changes.unchangedSince(mark)) return;
    if (row.blocked || row.record_state === 'obsolete') return;
    if (!this.entries.has(row.client_id) && this.entries.size >= this.maxEntries) {
      // Oldest first out: Map iteration order is insertion order.
      const oldest = this.entries.keys().next();
      if (oldest.done !== true) this.entries.delete(oldest.value);
    }
    this.entries.set(row.client_id, {
      secretHash: Buffer.from(row.secret_hash, 'hex'),
      hardwareHash: hardwareIdHash(row.hardware_id),
      policyEpoch: row.policy_epoch,
      lastContact: row.last_contact,
    });
  }

  /**
   * True when this request was answered (304). Only `GET /v1/sync` with a bearer secret over a
   * connection without a verified client certificate is considered.
   */
  handle(req: IncomingMessage, res: ServerResponse): boolean {
    const url = req.url;
    if (req.method !== 'GET' || url === undefined || !isSyncPath(url)) return false;
    const socket = req.socket;
    if (socket instanceof TLSSocket && socket.authorized) return false;
    if (this.deps.config.site.mode === 'native') return false; // refused by client-auth.ts
    const state = this.deps.changes.current();
    const sealer = this.deps.sync.sealerIfLoaded();
    if (state === undefined || sealer === undefined) return false;
    const secret = bearerOf(req.headers.authorization);
    const clientId = secret === undefined ? undefined : clientIdOfSecret(secret);
    if (secret === undefined || clientId === undefined) return false;
    const entry = this.entries.get(clientId);
    if (entry === undefined) return false;
    const presented = Buffer.from(hashSecret(secret), 'hex');
    if (presented.length !== entry.secretHash.length) return false;
    if (!timingSafeEqual(presented, entry.secretHash)) return false;
    // Other hardware than the record's: the database path flags the suspected clone.
    const hardware = req.headers[HARDWARE_ID_HEADER];
    if (hardware !== undefined && !hardwareIdHash(String(hardware)).equals(entry.hardwareHash))
      return false;
    const anchor = sealer.open(anchorOf(url), clientId);
    if (!SyncService.anchorIsCurrent(anchor, state.catalogVersion, entry.policyEpoch)) return false;
    const noted = this.deps.contacts.touch({
      client_id: clientId,
      last_contact: entry.lastContact,
    });
    if (noted !== undefined) entry.lastContact = noted;
    this.hits++;
    res.writeHead(304, { 'Cache-Control': 'no-store' });
    res.end();
    return true;
  }
}

function isSyncPath(url: string): boolean {
  return url === '/v1/sync' || url.startsWith('/v1/sync?');
}

/** The `anchor` query parameter as Express's simple parser would give it: one string, or none. */
function anchorOf(url: string): string | undefined {
  const q = url.indexOf('?');
  if (q < 0) return undefined;
  const values = new URLSearchParams(url.slice(q + 1)).getAll('anchor');
  return values.length === 1 && values[0] !== '' ? values[0] : undefined;
}
