import { setTimeout as sleep } from 'node:timers/promises';
import type { Knex } from 'knex';
import { UpcatError } from '../errors.js';
import { dbKind, type Db } from '../storage/db.js';
import type { MetadataIO, MetadataStore } from './tuf-store.js';

/** The rows replaced in place; every other row is version-prefixed and never changes. */
const MUTABLE = ['timestamp.json', 'root.json'] as const;
/** Versioned rows kept in memory per store (bins are a few KiB; 256 bins by default). */
const IMMUTABLE_CACHE_ENTRIES = 4096;

/** The current bytes of a mutable row, as this node last polled them. */
export interface CurrentMetadata {
  bytes: Buffer;
  version: number;
  /** Changes with every write of the row (its version and creation time). */
  stamp: string;
}

/**
 * The database adapter of the metadata store (issue 15 item 2, migration 018): every node reads
 * the same rows, so no shared file system is needed. A writer runs in one transaction under a
 * writer lock (a PostgreSQL advisory lock; SQLite's write lock), and the new versioned rows and
 * the new timestamp.json become visible together at commit: a writer killed at any point leaves
 * the previous version whole, and the next write starts from it.
 */
export class DatabaseMetadataStore implements MetadataStore {
  readonly kind = 'database';
  readonly label = 'the database (tuf_metadata)';
  private readonly immutable = new Map<string, Buffer>();
  private readonly current = new Map<string, CurrentMetadata>();
  private timer: NodeJS.Timeout | undefined;
  /** Polls run one after another: one asked for after a write reads what the write left. */
  private polls: Promise<unknown> = Promise.resolve();
  private firstPoll: Promise<void> | undefined;
  /** The tail of this store's queue of writers. */
  private turns: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly db: Db,
    /** How often a serving node looks for a version written by another node. */
    private readonly pollMs: number,
  ) {}

  async read(name: string): Promise<Buffer | undefined> {
    const cached = this.immutable.get(name);
    if (cached !== undefined) return cached;
    const bytes = await readRow(this.db, name);
    if (bytes !== undefined && !isMutable(name)) this.remember(name, bytes);
    return bytes;
  }

  async write(name: string, bytes: Buffer): Promise<void> {
    await this.writing((io) => io.write(name, bytes));
  }

  async writing<T>(fn: (io: MetadataIO) => Promise<T>): Promise<T> {
    const result = await this.exclusive(async () => {
      for (let attempt = 1; ; attempt++) {
        try {
          return await this.attempt(fn);
        } catch (err) {
          // Another process's writer landed first (SQLite): start again from its version.
          if (!(err instanceof StaleWrite) || attempt >= STALE_RETRIES) throw err;
          await sleep(Math.random() * 20 * attempt);
        }
      }
    });
    // This node's readers see the new version at once; other nodes within pollMs.
    if (this.timer !== undefined) await this.poll();
    return result;
  }

  private async attempt<T>(fn: (io: MetadataIO) => Promise<T>): Promise<T> {
    const before = await this.timestampStamp(this.db);
    // Writes are held until fn is done, then land in one transaction: a writer that throws or
    // is killed midway leaves no row, and readers see the new version whole or not at all.
    const pending = new Map<string, Buffer>();
    const out = await fn({
      label: this.label,
      read: async (name) => pending.get(name) ?? this.read(name),
      write: async (name, bytes) => {
        pending.set(name, bytes);
      },
    });
    if (pending.size > 0) await this.commit(pending, before);
    return out;
  }

  /**
   * The new rows in one transaction, after checking that timestamp.json is still the one the
   * writer started from: on SQLite, another process may have written meanwhile (the lock below
   * only orders this process's writers), and its version N+1 must not be overwritten.
   */
  private async commit(pending: Map<string, Buffer>, before: string | undefined): Promise<void> {
    const createdAt = new Date().toISOString();
    await this.db.transaction(async (trx) => {
      await trx('tuf_metadata').where({ name: '' }).update({ version: 0 }); // SQLite: write lock now
      if ((await this.timestampStamp(trx)) !== before) {
        throw new StaleWrite();
      }
      for (const [name, bytes] of pending) {
        await trx('tuf_metadata')
          .insert({ name, version: versionOf(name, bytes), bytes, created_at: createdAt })
          .onConflict('name')
          .merge();
      }
    });
  }

  private async timestampStamp(q: Knex | Knex.Transaction): Promise<string | undefined> {
    const row = (await q('tuf_metadata')
      .where({ name: 'timestamp.json' })
      .first('version', 'created_at')) as
      { version: number | string; created_at: string } | undefined;
    return row === undefined ? undefined : `${row.version}@${row.created_at}`;
  }

  /**
   * One writer at a time (TUF: two writers must never sign two different versions N+1).
   * PostgreSQL: a session advisory lock on a connection of its own, named per schema so that
   * sites sharing a database do not wait for each other; a node that dies drops its session and
   * so its lock. SQLite: this process's writers take turns (its one connection must stay free
   * for the reads a writer makes meanwhile); other processes are caught by the check in commit().
   */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.turns.then(async () =>
      dbKind(this.db) === 'postgres' ? this.withAdvisoryLock(fn) : fn(),
    );
    this.turns = run.catch(() => undefined);
    return run;
  }

  private async withAdvisoryLock<T>(fn: () => Promise<T>): Promise<T> {
    const client = this.db.client as {
      acquireConnection(): Promise<unknown>;
      releaseConnection(conn: unknown): Promise<unknown>;
    };
    const conn = await client.acquireConnection();
    let unlocked = false;
    try {
      await this.db.raw(`select pg_advisory_lock(${LOCK_KEY})`).connection(conn);
      try {
        return await fn();
      } finally {
        await this.db
          .raw(`select pg_advisory_unlock(${LOCK_KEY})`)
          .connection(conn)
          .then(() => (unlocked = true))
          .catch(() => undefined);
      }
    } finally {
      // A connection whose unlock failed still holds the lock: end its session rather than pool it.
      if (!unlocked) await (conn as { end?: () => Promise<void> }).end?.().catch(() => undefined);
      await client.releaseConnection(conn);
    }
  }

  async list(): Promise<string[]> {
    const rows = (await this.db('tuf_metadata').select('name')) as { name: string }[];
    return rows.map((r) => r.name);
  }

  /** Every row's creation time (ms) and size: what gc judges superseded versions by. */
  async describe(): Promise<Map<string, { at: number; size: number }>> {
    const rows = (await this.db('tuf_metadata').select(
      'name',
      'created_at',
      this.db.raw('length(bytes) as size'),
    )) as { name: string; created_at: string; size: number | string }[];
    return new Map(
      rows.map((r) => [r.name, { at: Date.parse(r.created_at), size: Number(r.size) }]),
    );
  }

  /** Deletes a superseded versioned row (gc); the current ones are never passed here. */
  async remove(name: string): Promise<void> {
    if (isMutable(name)) throw new UpcatError('invalid_input', `${name} is never removed`);
    await this.db('tuf_metadata').where({ name }).del();
    this.immutable.delete(name);
  }

  /**
   * timestamp.json or root.json as last polled (what MutableMetadata serves from memory), or
   * undefined when there is none. `watch()` must have been called.
   */
  currentOf(name: string): CurrentMetadata | undefined {
    return this.current.get(name);
  }

  /** Starts polling the mutable rows every pollMs; resolves when the first poll has read them. */
  watch(): Promise<void> {
    if (this.timer === undefined) {
      let running = false;
      this.timer = setInterval(() => {
        if (running) return; // a slow database: no queue of polls
        running = true;
        // A failed poll keeps the last version served; the next tick tries again.
        this.poll()
          .catch(() => undefined)
          .finally(() => (running = false));
      }, this.pollMs);
      this.timer.unref();
    }
    // A first poll that failed (the database away at start) is tried again by the next caller,
    // rather than leaving the node answering 503 for good.
    this.firstPoll ??= this.poll().catch((err: unknown) => {
      this.firstPoll = undefined;
      throw err;
    });
    return this.firstPoll;
  }

  close(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Reads the mutable rows' versions (a cheap query) and their bytes when they changed. */
  poll(): Promise<void> {
    const next = this.polls.then(() => this.pollOnce());
    this.polls = next.catch(() => undefined);
    return next;
  }

  private async pollOnce(): Promise<void> {
    const rows = (await this.db('tuf_metadata')
      .whereIn('name', MUTABLE)
      .select('name', 'version', 'created_at')) as {
      name: string;
      version: number | string;
      created_at: string;
    }[];
    const seen = new Set<string>();
    for (const row of rows) {
      seen.add(row.name);
      const stamp = `${row.version}@${row.created_at}`;
      if (this.current.get(row.name)?.stamp === stamp) continue;
      const bytes = await readRow(this.db, row.name);
      if (bytes === undefined) continue;
      this.current.set(row.name, { bytes, version: Number(row.version), stamp });
    }
    for (const name of MUTABLE) if (!seen.has(name)) this.current.delete(name);
  }

  private remember(name: string, bytes: Buffer): void {
    if (this.immutable.size >= IMMUTABLE_CACHE_ENTRIES) {
      const oldest = this.immutable.keys().next().value;
      if (oldest !== undefined) this.immutable.delete(oldest);
    }
    this.immutable.set(name, bytes);
  }
}

async function readRow(q: Knex | Knex.Transaction, name: string): Promise<Buffer | undefined> {
  const row = (await q('tuf_metadata').where({ name }).first('bytes')) as
    { bytes: Buffer | Uint8Array } | undefined;
  if (row === undefined) return undefined;
  return Buffer.isBuffer(row.bytes) ? row.bytes : Buffer.from(row.bytes);
}

/** Times a writer starts again after another process's writer landed first. */
const STALE_RETRIES = 5;

class StaleWrite extends UpcatError {
  constructor() {
    super(
      'conflict',
      'another writer changed the TUF repository meanwhile; the next publish retries',
    );
  }
}

/** The advisory lock's key: one per schema (sites sharing a PostgreSQL database never wait). */
const LOCK_KEY = `hashtext(current_schema() || '.upcat-tuf-writer')`;

function isMutable(name: string): boolean {
  return (MUTABLE as readonly string[]).includes(name);
}

/** Versioned names carry their version; the mutable files are read for it. */
function versionOf(name: string, bytes: Buffer): number {
  const prefix = /^([1-9][0-9]*)\./.exec(name);
  if (prefix !== null) return Number(prefix[1]);
  const version = (JSON.parse(bytes.toString('utf8')) as { signed?: { version?: unknown } }).signed
    ?.version;
  if (typeof version !== 'number') {
    throw new UpcatError('integrity', `TUF metadata ${name} has no signed.version`);
  }
  return version;
}
