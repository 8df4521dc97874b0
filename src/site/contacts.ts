import type { Logger } from 'pino';
import type { Db } from '../storage/db.js';

/** last_contact moves at most this often per client. */
const TOUCH_INTERVAL_MS = 5 * 60 * 1000;
/** Pending contacts are written this often, in one statement per chunk. */
const FLUSH_INTERVAL_MS = 2_000;
const CHUNK = 500;
/**
 * Chunks committed together. One commit per chunk cost a WAL fsync each and rewrote the pages
 * that neighbouring chunks share (issue 16: 100,000 contacts in 10 s were 550 MB of writes on
 * SQLite); one commit for a whole flush would hold SQLite's one connection for the whole of it,
 * which requests needing the database would wait behind. Ten chunks hold it for tens of ms.
 */
const CHUNKS_PER_COMMIT = 10;
/**
 * At most this many contacts are written per interval by a node (2,500/s, shared by its worker
 * processes; a site of a million endpoints
 * syncing hourly makes 280/s). More wait for the next interval: on patch day, when every
 * endpoint syncs within seconds, the writes are spread over the minute after instead of taking
 * CPU and disk from the syncs themselves. A close writes everything.
 */
export const MAX_CONTACTS_PER_INTERVAL = CHUNK * CHUNKS_PER_COMMIT;

/**
 * Clients' last contact (issue 5 item 10, "not seen for N days"), written behind the requests:
 * a client that syncs hourly would otherwise cost a committed write (an fsync on SQLite) per
 * sync. Contacts are kept in memory and written every couple of seconds (under a storm of
 * syncs, a bounded number per interval); a crash loses what was not written yet, of a fact that
 * is only read at the scale of days.
 */
export class ContactRecorder {
  private pending = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();

  private readonly intervalMs: number;
  /** Contacts written per interval at most (the node's cap, split among its workers). */
  readonly maxPerInterval: number;

  constructor(
    private readonly deps: { db: Db; log: Logger },
    opts: { intervalMs?: number; maxPerInterval?: number } = {},
  ) {
    this.intervalMs = opts.intervalMs ?? FLUSH_INTERVAL_MS;
    this.maxPerInterval = opts.maxPerInterval ?? MAX_CONTACTS_PER_INTERVAL;
  }

  /**
   * Notes a request from the client when its stored contact is older than the interval; returns
   * the contact time noted, or undefined when none was needed. The row gets the time it is
   * written, seconds later (a minute or so after a storm of syncs).
   */
  touch(
    client: { client_id: string; last_contact: string | null },
    at = Date.now(),
  ): string | undefined {
    const last = client.last_contact === null ? -Infinity : Date.parse(client.last_contact);
    return this.touchAt(client.client_id, last, at) === undefined
      ? undefined
      : new Date(at).toISOString();
  }

  /**
   * touch() for a caller that keeps the stored contact as a time value (the sync fast path, per
   * request: no date parsing or formatting): returns `at` when a contact was noted.
   */
  touchAt(clientId: string, lastContactMs: number, at: number): number | undefined {
    if (at - lastContactMs <= TOUCH_INTERVAL_MS) return undefined;
    this.pending.add(clientId);
    this.arm();
    return at;
  }

  /** Writes everything pending (on close, and for tests). */
  flush(): Promise<void> {
    return this.queue(Infinity);
  }

  private arm(): void {
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      void this.queue(this.maxPerInterval).then(() => {
        if (this.pending.size > 0) this.arm();
      });
    }, this.intervalMs).unref();
  }

  private queue(max: number): Promise<void> {
    this.flushing = this.flushing.then(() => this.write(max));
    return this.flushing;
  }

  private async write(max: number): Promise<void> {
    if (this.pending.size === 0) return;
    const ids: string[] = [];
    for (const id of this.pending) {
      if (ids.length >= max) break;
      ids.push(id);
    }
    for (const id of ids) this.pending.delete(id);
    const now = Date.now();
    const at = new Date(now).toISOString();
    // Another process (a worker of this node, another node) may have written the same client's
    // contact since this one last read it: a row written within the interval is left alone, so
    // that a client whose syncs reach several processes costs one write per interval, not one
    // per process, and SQLite's writer lock is held for reads only.
    const fresh = new Date(now - TOUCH_INTERVAL_MS).toISOString();
    const perCommit = CHUNK * CHUNKS_PER_COMMIT;
    try {
      for (let start = 0; start < ids.length; start += perCommit) {
        const some = ids.slice(start, start + perCommit);
        await this.deps.db.transaction(async (trx) => {
          for (let i = 0; i < some.length; i += CHUNK) {
            await trx('clients')
              .whereIn('client_id', some.slice(i, i + CHUNK))
              .andWhere((q) => q.whereNull('last_contact').orWhere('last_contact', '<=', fresh))
              .update({ last_contact: at });
          }
        });
      }
    } catch (err) {
      this.deps.log.warn({ err, clients: ids.length }, 'last contact not recorded');
    }
  }
}
