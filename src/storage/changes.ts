import type { Knex } from 'knex';
import type { Logger } from 'pino';
import type { ChangeBoard } from './change-board.js';
import type { Db } from './db.js';

/**
 * What a server may cache about clients is only as good as its knowledge of the latest change.
 * This watcher keeps that knowledge: the catalog version and the `clients` change counter (moved
 * by triggers, migration 007), polled every `pollMs`, so a change made by another process or
 * node is seen within that time. A change made in this process is seen at once: the code that
 * makes it calls `noteChange(trx)`, which closes the window until a poll started after the
 * transaction settled has read the new state (so a PostgreSQL read that ran before the commit
 * can never reopen it with old values). The worker processes of one node (server.workers) tell
 * each other through a ChangeBoard, read at every `current()`: another worker's change closes
 * this one's window from before its commit until a poll after it, as an in-process change does.
 */
export interface ChangeState {
  catalogVersion: number;
  clientsCounter: number;
}

export class ChangeWatcher {
  private state: ChangeState | undefined;
  /** Moves on every in-process change and on every settle of a changing transaction. */
  private seq = 0;
  /** The seq that `state` is known to be current for. */
  private validSeq = -1;
  private openTransactions = 0;
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;
  private repoll = false;
  private readonly listeners = new Set<(clientsChanged: boolean) => void>();
  private board: ChangeBoard | undefined;
  /** Another worker of this node has a changing transaction open (as the board last said). */
  private othersOpen = false;

  constructor(
    private readonly deps: { db: Db; log: Logger },
    private readonly pollMs: number,
  ) {
    registry.set(deps.db.client.config as object, this);
  }

  /**
   * The current state when it is trustworthy: polled after the last in-process change settled,
   * with no changing transaction of this process still open. Undefined means: ask the database.
   */
  current(): ChangeState | undefined {
    if (this.board !== undefined) this.readBoard(this.board);
    return this.validSeq === this.seq && this.openTransactions === 0 && !this.othersOpen
      ? this.state
      : undefined;
  }

  /** Shares changes with the other worker processes of this node (serve.ts, server.workers). */
  shareWith(board: ChangeBoard): void {
    this.board = board;
    this.othersOpen = board.othersOpen;
  }

  /**
   * Another worker's change, seen on the board: what this process cached may be stale, as after
   * a change of its own; once no other worker has a change open, read the database again.
   */
  private readBoard(board: ChangeBoard): void {
    let moved: boolean;
    try {
      moved = board.moved();
    } catch (err) {
      // Unreadable board: trust nothing cached until it reads again (requests use the database).
      this.othersOpen = true;
      this.deps.log.warn({ err }, 'change board not read');
      return;
    }
    this.othersOpen = board.othersOpen;
    if (!moved) return;
    this.seq++;
    this.emit(true);
    if (!this.othersOpen) void this.poll();
  }

  /** Called with `true` when cached facts about clients may be stale, `false` for catalog-only. */
  onChange(listener: (clientsChanged: boolean) => void): void {
    this.listeners.add(listener);
  }

  /** Starts the periodic poll (a server does this; one-shot commands never need it). */
  start(pollMs: number = this.pollMs): Promise<void> {
    if (this.timer === undefined) {
      this.timer = setInterval(() => void this.poll(), pollMs);
      this.timer.unref();
    }
    return this.poll();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** A change is being made through `q` (see noteChange). */
  changing(q: Knex | Knex.Transaction): void {
    if (this.timer === undefined) return; // not serving: nothing is cached from this state
    this.seq++;
    this.emit(true);
    if (q.isTransaction === true) {
      const trx = q as Knex.Transaction;
      this.openTransactions++;
      this.board?.begin(); // before the commit: the other workers close now
      const settle = (): void => {
        this.openTransactions--;
        this.board?.end(); // after it: they read the database again
        this.seq++;
        this.emit(true);
        void this.poll();
      };
      trx.executionPromise.then(settle, settle);
    } else {
      this.board?.note();
      void this.poll();
    }
  }

  /** Reads the state once (coalesced: a poll asked for while one runs runs again after it). */
  poll(): Promise<void> {
    if (this.polling !== undefined) {
      this.repoll = true;
      return this.polling;
    }
    this.polling = (async () => {
      do {
        this.repoll = false;
        await this.readOnce();
      } while (this.repoll);
    })().finally(() => {
      this.polling = undefined;
    });
    return this.polling;
  }

  private async readOnce(): Promise<void> {
    const startSeq = this.seq;
    let next: ChangeState;
    try {
      next = await readState(this.deps.db);
    } catch (err) {
      // Unknown state: the cache stays closed until a poll succeeds; requests use the database.
      this.validSeq = -1;
      this.deps.log.warn({ err }, 'change poll failed');
      return;
    }
    const before = this.state;
    this.state = next;
    const clientsChanged = before !== undefined && before.clientsCounter !== next.clientsCounter;
    if (clientsChanged) {
      // Another process changed clients: reads that started before now may hold old rows.
      this.seq++;
      this.emit(true);
    } else if (before !== undefined && before.catalogVersion !== next.catalogVersion) {
      this.emit(false);
    }
    if (this.openTransactions > 0) return; // the settle of the open transaction polls again
    if (startSeq === this.seq - (clientsChanged ? 1 : 0)) this.validSeq = this.seq;
    else this.repoll = true; // something changed here while reading: read again
  }

  /** A mark taken before a database read, to learn afterwards whether the read is still current. */
  mark(): number | undefined {
    return this.current() === undefined ? undefined : this.seq;
  }

  /** True when nothing changed since `mark()` gave this value. */
  unchangedSince(mark: number | undefined): boolean {
    return mark !== undefined && mark === this.seq && this.current() !== undefined;
  }

  private emit(clientsChanged: boolean): void {
    for (const l of this.listeners) l(clientsChanged);
  }
}

async function readState(db: Db): Promise<ChangeState> {
  const row = (await db('catalog_state')
    .where({ id: 1 })
    .first(
      'version',
      db('change_counters').where({ name: 'clients' }).select('value').as('clients_counter'),
    )) as { version: number | string; clients_counter: number | string | null } | undefined;
  return {
    catalogVersion: Number(row?.version ?? 0),
    clientsCounter: Number(row?.clients_counter ?? 0),
  };
}

/**
 * The watcher of a database handle, found from the handle or any of its transactions: knex
 * gives a transaction's client the root client's config object, so that object is the key.
 */
const registry = new WeakMap<object, ChangeWatcher>();

/**
 * Call from code that changes the catalog version or a cached client fact, inside (or right
 * after) the statement that does it. A no-op in processes that run no watcher (the CLI).
 */
export function noteChange(q: Knex | Knex.Transaction): void {
  registry.get(q.client.config as object)?.changing(q);
}
