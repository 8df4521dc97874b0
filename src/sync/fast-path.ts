import { hash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import type { SiteConfig } from '../config/schema.js';
import { HARDWARE_ID_HEADER, hardwareIdHash } from '../site/clones.js';
import type { ContactRecorder } from '../site/contacts.js';
import { normalizeClient, type ClientRow } from '../site/client-repo.js';
import { statusOf, type ClientStatus } from '../site/registration.js';
import { bearerOf, clientIdOfSecret, digestsEqual, secretDigest } from '../site/secrets.js';
import type { ChangeWatcher } from '../storage/changes.js';
import type { Db } from '../storage/db.js';
import type { AnchorSealer } from './anchor.js';
import { NO_POLICY } from './policy-cache.js';
import { receivesPolicy, type PolicySubject } from './policy.js';
import { SyncService } from './sync-service.js';

/** Clients walked between yields to the event loop when listing group sets. */
const GROUP_SETS_SLICE = 20_000;
/** Clients read per query while warming (keyset pages: each is an index range scan). */
const WARM_CHUNK = 5_000;

/**
 * A sync answered from memory: 304 (with `X-Upcat-Anchor` when the policy cache gave a fresher
 * anchor), or 200 with the signed policy's JSON text.
 */
export type SyncAnswer = { status: 304; anchor?: string } | { status: 200; body: string };

const NOT_MODIFIED: SyncAnswer = { status: 304 };

/** What the answers from memory need to know about a client; kept small (a million fit). */
interface Entry {
  /** The stored secret hash as secrets.ts secretDigest gives it (latin1, 32 characters). */
  secretHash: string;
  /** The record's hardware ID, hashed (clones.ts): a request naming other hardware is a clone check. */
  hardwareHash: string;
  policyEpoch: number;
  /** The stored last contact as a time value (-Infinity: never). */
  lastContactMs: number;
  status: ClientStatus;
  /** Approved, active and not blocked (sync/policy.ts receivesPolicy). */
  receives: boolean;
  /** Its named groups in ID order; undefined until read (then a new deployment goes to the database path). */
  groupIds: number[] | undefined;
  /** The clients change counter these facts are current for; any other value: stale. */
  counter: number;
  /**
   * The last anchor this client presented that was current, remembered so that the next sync
   * with the same one (the common case: an endpoint syncs hourly and nothing changed) is checked
   * without opening it again: the digest of its text (SHA-256, latin1), the sealer that opened
   * it, its catalog version and when it was issued. Its client and epoch are this entry's: an
   * entry is replaced whenever the client's epoch moves.
   */
  anchor: RememberedAnchor | undefined;
}

interface RememberedAnchor {
  digest: string;
  sealer: AnchorSealer;
  catalogVersion: number;
  issued: number;
}

function entryOf(row: ClientRow, groupIds: number[] | undefined, counter: number): Entry {
  return {
    secretHash: Buffer.from(row.secret_hash ?? '', 'hex').toString('latin1'),
    hardwareHash: hardwareIdHash(row.hardware_id),
    policyEpoch: row.policy_epoch,
    lastContactMs: row.last_contact === null ? -Infinity : Date.parse(row.last_contact),
    status: statusOf(row),
    receives: receivesPolicy(row),
    groupIds,
    counter,
    anchor: undefined,
  };
}

/**
 * The sync with nothing new (issue 5 item 8), answered from memory: most of a site's traffic
 * (every endpoint, every hour) and the benchmark's target. Clients that authenticated through
 * the database path (client-auth.ts) are remembered; a later sync whose anchor is current for
 * the catalog version and the client's policy epoch gets its 304 before Express routing, with no
 * database read. Anything else (unknown client, a change in flight, a TLS client certificate, an
 * `Upcat-Hardware-Id` that is not the record's, a native-mode site, which takes no secret for
 * sync) falls through to the full path, which is the reference behaviour.
 *
 * A stale anchor (patch day: a new deployment, issue 16) is answered here too when the client's
 * named groups are known (warmed, or seen by the database path) and the policy cache holds their
 * policy at the watcher's catalog version (sync/policy-cache.ts): the same signed answer the
 * database path gives, built from the same facts. Otherwise it falls through, and the database
 * path fills the cache for the next client of those groups.
 *
 * Correctness rests on the ChangeWatcher: any change to a remembered fact (blocking, approval,
 * replacement, new secret, epoch, and so group membership) moves the clients change counter, and
 * an entry is used only while the watcher's counter is the one it was read at. A change made in
 * this process closes the fast path at once (the watcher has no current state until it has read
 * the new counter); one made by another is seen within one poll interval. A change that moves only
 * the catalog version (a deployment) leaves the entries valid, so the patch-day syncs that follow
 * it are answered here. The catalog version is the watcher's, and the policy cache holds nothing
 * of another catalog version.
 */
export class SyncFastPath {
  private readonly entries = new Map<string, Entry>();
  /** Syncs answered here with a 304 for a current anchor (for /metrics and tests). */
  hits = 0;
  /** Syncs with a stale anchor answered here from the policy cache (issue 16). */
  policyHits = 0;

  constructor(
    private readonly deps: {
      changes: ChangeWatcher;
      sync: SyncService;
      contacts: ContactRecorder;
      config: SiteConfig;
    },
    private readonly maxEntries: number,
  ) {
    deps.sync.observeGroups({
      mark: () => this.mark(),
      noted: (clientId, policyEpoch, groupIds, mark) => {
        const entry = this.entries.get(clientId);
        if (entry?.policyEpoch === policyEpoch && this.deps.changes.unchangedSince(mark))
          entry.groupIds = groupIds;
      },
    });
  }

  get size(): number {
    return this.entries.size;
  }

  /**
   * The named-group sets of the clients held here that receive policy, most common first, each
   * with one of its clients (for PolicyCache.prewarm when the catalog moves). A node holds up to
   * a million clients: the walk yields to the event loop every 20,000 so that requests are
   * answered meanwhile (a Map's iterator stays valid while it changes).
   */
  async groupSets(): Promise<Array<{ groupIds: readonly number[]; client: PolicySubject }>> {
    const sets = new Map<string, { groupIds: readonly number[]; clientId: string; n: number }>();
    let seen = 0;
    for (const [clientId, entry] of this.entries) {
      if (++seen % GROUP_SETS_SLICE === 0) await new Promise((r) => setImmediate(r));
      if (!entry.receives || entry.groupIds === undefined) continue;
      const key = entry.groupIds.join(',');
      const held = sets.get(key);
      if (held === undefined) sets.set(key, { groupIds: entry.groupIds, clientId, n: 1 });
      else held.n++;
    }
    return [...sets.values()]
      .sort((a, b) => b.n - a.n)
      .map((s) => ({
        groupIds: s.groupIds,
        // What `receives` summarizes (policy.ts receivesPolicy), for this client at this counter.
        client: {
          client_id: s.clientId,
          approval: 'approved',
          record_state: 'active',
          blocked: false,
        },
      }));
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
      const rows = (
        (await db('clients')
          .where('client_id', '>', after)
          .andWhere({ blocked: false })
          .whereNot({ record_state: 'obsolete' })
          .whereNotNull('secret_hash')
          .orderBy('client_id')
          .limit(WARM_CHUNK)
          .select(WARM_COLUMNS)) as Array<Record<string, unknown>>
      ).map(normalizeClient);
      const last = rows[rows.length - 1]?.client_id;
      if (last === undefined) break;
      const groups = await groupsBetween(db, after, last);
      after = last;
      const counter = this.counterSince(mark);
      if (counter !== undefined) {
        for (const r of rows) {
          if (this.entries.size >= this.maxEntries) return loaded;
          const held = this.entries.get(r.client_id);
          if (held?.counter === counter && held.groupIds !== undefined) continue;
          this.entries.set(r.client_id, entryOf(r, groups.get(r.client_id) ?? [], counter));
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
    const counter = this.counterSince(mark);
    if (counter === undefined) return;
    if (row.blocked || row.record_state === 'obsolete') return;
    const held = this.entries.get(row.client_id);
    if (held === undefined && this.entries.size >= this.maxEntries) {
      // Oldest first out: Map iteration order is insertion order.
      const oldest = this.entries.keys().next();
      if (oldest.done !== true) this.entries.delete(oldest.value);
    }
    // Its groups, when read at this policy epoch, are kept: every membership change moves it.
    const groupIds = held?.policyEpoch === row.policy_epoch ? held.groupIds : undefined;
    this.entries.set(row.client_id, entryOf(row, groupIds, counter));
  }

  /** The clients change counter, when nothing changed since `mark` (else undefined). */
  private counterSince(mark: number | undefined): number | undefined {
    return this.deps.changes.unchangedSince(mark)
      ? this.deps.changes.current()?.clientsCounter
      : undefined;
  }

  /**
   * True when this request was answered (a 304, or a new policy from the cache). Only
   * `GET /v1/sync` with a bearer secret over a connection without a verified client certificate
   * is considered.
   */
  handle(req: IncomingMessage, res: ServerResponse): boolean {
    // Every request passes here: anything but a sync is let go before its headers are read.
    const url = req.url;
    if (req.method !== 'GET' || url === undefined || !isSyncPath(url)) return false;
    const socket = req.socket;
    if (socket instanceof TLSSocket && socket.authorized) return false;
    const hardware = req.headers[HARDWARE_ID_HEADER];
    const answer = this.answer(
      url,
      req.headers.authorization,
      hardware === undefined ? undefined : String(hardware),
    );
    if (answer === undefined) return false;
    if (answer.status === 304) {
      res.writeHead(
        304,
        answer.anchor === undefined
          ? { 'Cache-Control': 'no-store' }
          : { 'Cache-Control': 'no-store', 'X-Upcat-Anchor': answer.anchor },
      );
      res.end();
      return true;
    }
    // As Express's res.json would send it (etag off, x-powered-by off: app.ts).
    res.writeHead(200, {
      'Cache-Control': 'no-store',
      'Content-Type': 'application/json; charset=utf-8',
      'Content-Length': Buffer.byteLength(answer.body),
    });
    res.end(answer.body);
    return true;
  }

  /**
   * The answer to `GET <url>` from memory, or undefined when the full path must answer: what
   * handle() writes, and what the front (server/metadata-front.ts) writes on the connection
   * itself. `authorization` and `hardwareId` are the fields' values as node:http gives them;
   * the caller has made sure the request came without a verified client certificate. Answering
   * records the contact, as the full path would.
   */
  answer(
    url: string | undefined,
    authorization: string | undefined,
    hardwareId: string | undefined,
  ): SyncAnswer | undefined {
    if (url === undefined || !isSyncPath(url)) return undefined;
    if (this.deps.config.site.mode === 'native') return undefined; // refused by client-auth.ts
    const state = this.deps.changes.current();
    const sealer = this.deps.sync.sealerIfLoaded();
    if (state === undefined || sealer === undefined) return undefined;
    const secret = bearerOf(authorization);
    const clientId = secret === undefined ? undefined : clientIdOfSecret(secret);
    if (secret === undefined || clientId === undefined) return undefined;
    const entry = this.entries.get(clientId);
    if (entry?.counter !== state.clientsCounter) return undefined;
    if (!digestsEqual(secretDigest(secret), entry.secretHash)) return undefined;
    // Other hardware than the record's: the database path flags the suspected clone.
    if (hardwareId !== undefined && hardwareIdHash(hardwareId) !== entry.hardwareHash)
      return undefined;
    const { catalogVersion } = state;
    const text = anchorOf(url);
    const digest = text === undefined ? undefined : anchorDigest(text);
    const now = Date.now();
    if (digest !== undefined && this.stillCurrent(entry, digest, sealer, catalogVersion, now)) {
      this.answerNotModified(clientId, entry, now);
      return NOT_MODIFIED;
    }
    const anchor = sealer.open(text, clientId, now);
    if (
      digest !== undefined &&
      anchor !== undefined &&
      SyncService.anchorIsCurrent(anchor, catalogVersion, entry.policyEpoch)
    ) {
      entry.anchor = { digest, sealer, catalogVersion, issued: anchor.issued };
      this.answerNotModified(clientId, entry, now);
      return NOT_MODIFIED;
    }
    const policy = !entry.receives
      ? NO_POLICY
      : entry.groupIds === undefined
        ? undefined
        : this.deps.sync.policies.held(catalogVersion, entry.groupIds);
    if (policy === undefined) return undefined;
    const subject = { clientId, policyEpoch: entry.policyEpoch, status: entry.status };
    const result = this.deps.sync.answerNow(subject, anchor, policy, catalogVersion);
    if (result === undefined) return undefined;
    this.touch(clientId, entry, now);
    this.policyHits++;
    if (result.status === 304) return { status: 304, anchor: result.anchor ?? '' };
    return { status: 200, body: JSON.stringify(result.body) };
  }

  /**
   * The anchor presented (`digest`: anchorDigest of its text) is the one this client presented
   * last and was current then, and it still is: the same text, opened by the same sealer, at
   * this catalog version, and not yet expired. Exactly what opening it again would decide
   * (AnchorSealer.open, SyncService.anchorIsCurrent), for a SHA-256 of the text instead of an
   * AES-GCM open.
   */
  private stillCurrent(
    entry: Entry,
    digest: string,
    sealer: AnchorSealer,
    catalogVersion: number,
    now: number,
  ): boolean {
    const held = entry.anchor;
    return (
      held !== undefined &&
      held.sealer === sealer &&
      held.catalogVersion === catalogVersion &&
      sealer.fresh(held.issued, now) &&
      digest === held.digest
    );
  }

  private answerNotModified(clientId: string, entry: Entry, now: number): void {
    this.touch(clientId, entry, now);
    this.hits++;
  }

  private touch(clientId: string, entry: Entry, now: number): void {
    const noted = this.deps.contacts.touchAt(clientId, entry.lastContactMs, now);
    if (noted !== undefined) entry.lastContactMs = noted;
  }
}

/** The warm's columns: what entryOf reads of a client row. */
const WARM_COLUMNS = [
  'client_id',
  'secret_hash',
  'hardware_id',
  'policy_epoch',
  'last_contact',
  'approval',
  'record_state',
  'blocked',
];

/** Named groups of the clients whose IDs are in (after, last], in group ID order. */
async function groupsBetween(db: Db, after: string, last: string): Promise<Map<string, number[]>> {
  const rows = (await db('client_groups')
    .where('client_id', '>', after)
    .andWhere('client_id', '<=', last)
    .orderBy(['client_id', 'group_id'])
    .select('client_id', 'group_id')) as Array<{ client_id: string; group_id: number | string }>;
  const out = new Map<string, number[]>();
  for (const r of rows) {
    const held = out.get(r.client_id);
    if (held === undefined) out.set(r.client_id, [Number(r.group_id)]);
    else held.push(Number(r.group_id));
  }
  return out;
}

function isSyncPath(url: string): boolean {
  return url === '/v1/sync' || url.startsWith('/v1/sync?');
}

/** What stillCurrent compares: the SHA-256 of an anchor's text, as a latin1 string. */
function anchorDigest(text: string): string {
  return hash('sha256', text, 'latin1');
}

/** A query that is one anchor and nothing else, spelled as this site seals them. */
const ONLY_ANCHOR = /^anchor=[A-Za-z0-9._-]+$/;

/** The `anchor` query parameter as Express's simple parser would give it: one string, or none. */
function anchorOf(url: string): string | undefined {
  const q = url.indexOf('?');
  if (q < 0) return undefined;
  const query = url.slice(q + 1);
  // What every agent sends: no separator or escape to decode, so the value is the text itself.
  if (ONLY_ANCHOR.test(query)) return query.slice('anchor='.length);
  const values = new URLSearchParams(query).getAll('anchor');
  return values.length === 1 && values[0] !== '' ? values[0] : undefined;
}
