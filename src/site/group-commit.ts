import { AsyncResource } from 'node:async_hooks';
import type { Knex } from 'knex';
import { isUpcatError } from '../errors.js';
import type { Db } from '../storage/db.js';

/** One unit of work: all-or-nothing for itself, committed together with its batch-mates. */
type Work<T> = (trx: Knex.Transaction) => Promise<T>;

interface Pending {
  key: string;
  work: Work<unknown>;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown; retry: boolean };

/** Thrown to roll back a batch run without savepoints in which a work failed. */
class WorkFailed extends Error {}

export interface GroupCommitOptions {
  db: Db;
  /**
   * Takes the locks of a batch's keys at its start, in an order every batch agrees on, so that
   * concurrent batches cannot deadlock on them (the work itself then takes none).
   */
  lock: (trx: Knex.Transaction, keys: readonly string[]) => Promise<void>;
  /** Most works in one transaction: bounds how long it holds the database's writer. */
  maxBatch: number;
  /** Batches in flight at once (SQLite has one connection and one writer: 1). */
  concurrency: number;
}

/**
 * Group commit (issue 16): works that arrive while a transaction is in flight wait, and the next
 * transaction runs all of them, so one commit (one fsync) serves them all. A batch first runs
 * without savepoints (two statements fewer per work, most of a registration's database time);
 * if a work fails, that run is rolled back and the batch runs again with each work in a savepoint
 * of its own, where a failing work is rolled back to its savepoint and fails alone while its
 * batch-mates commit: the outcome of every work is the one of that second run. Every caller is answered only after its batch committed (or failed). A work that failed
 * with something other than a domain error (a deadlock, a busy database) and a batch whose
 * transaction failed as a whole are run again, each alone in a transaction of its own, so what
 * one of them meets is never another's failure. A work runs in the batch's own transaction (not a
 * nested knex transaction), so what it ties to the transaction's end (noteChange) waits for the
 * commit that makes it visible; it runs in its caller's async context (the audit's source and
 * token are read from it), not in the one of the caller that happened to start the batch.
 */
export class GroupCommit {
  private readonly queue: Pending[] = [];
  private inFlight = 0;

  constructor(private readonly options: GroupCommitOptions) {}

  run<T>(key: string, work: Work<T>): Promise<T> {
    const scope = new AsyncResource('upcat.GroupCommit');
    return new Promise<T>((resolve, reject) => {
      this.queue.push({
        key,
        // runInAsyncScope rather than AsyncResource.bind, which costs a deprecate() per call.
        work: (trx) => scope.runInAsyncScope(work, undefined, trx),
        resolve: resolve as (value: unknown) => void,
        reject,
      });
      this.pump();
    });
  }

  private pump(): void {
    while (this.inFlight < this.options.concurrency && this.queue.length > 0) {
      const batch = this.queue.splice(0, this.options.maxBatch);
      this.inFlight++;
      void this.settle(batch).finally(() => {
        this.inFlight--;
        this.pump();
      });
    }
  }

  private async settle(batch: Pending[]): Promise<void> {
    if (batch.length === 1 && batch[0] !== undefined) return this.alone(batch[0]);
    let outcomes: Outcome[];
    try {
      outcomes = await this.options.db
        .transaction((trx) => this.together(trx, batch, false))
        .catch((error: unknown) => {
          if (!(error instanceof WorkFailed)) throw error;
          return this.options.db.transaction((trx) => this.together(trx, batch, true));
        });
    } catch {
      // The transaction itself failed (begin, lock, commit): nothing of it was kept.
      for (const job of batch) await this.alone(job);
      return;
    }
    for (const [i, job] of batch.entries()) {
      const outcome = outcomes[i];
      if (outcome === undefined) continue;
      if (outcome.ok) job.resolve(outcome.value);
      else if (outcome.retry) await this.alone(job);
      else job.reject(outcome.error);
    }
  }

  private async together(
    trx: Knex.Transaction,
    batch: readonly Pending[],
    savepoints: boolean,
  ): Promise<Outcome[]> {
    await this.options.lock(
      trx,
      batch.map((job) => job.key),
    );
    const outcomes: Outcome[] = [];
    for (const job of batch) {
      if (!savepoints) {
        try {
          outcomes.push({ ok: true, value: await job.work(trx) });
        } catch {
          throw new WorkFailed();
        }
        continue;
      }
      await trx.raw('savepoint group_commit_item');
      try {
        outcomes.push({ ok: true, value: await job.work(trx) });
      } catch (error) {
        await trx.raw('rollback to savepoint group_commit_item');
        outcomes.push({ ok: false, error, retry: !isUpcatError(error) });
      }
      await trx.raw('release savepoint group_commit_item');
    }
    return outcomes;
  }

  private async alone(job: Pending): Promise<void> {
    try {
      job.resolve(
        await this.options.db.transaction(async (trx) => {
          await this.options.lock(trx, [job.key]);
          return job.work(trx);
        }),
      );
    } catch (error) {
      job.reject(error);
    }
  }
}
