import type { Knex } from 'knex';

/**
 * Catalog writers of one process take turns before they open their transaction.
 *
 * Every change to the catalog (publish, expire, approve, promote) takes the catalog row lock
 * first thing in its transaction, so writers are serialised by the database anyway. Without this
 * queue each waiting writer would first take a pooled connection and then sit on it, blocked on
 * the lock, while the publish ahead of it signs and writes: twenty concurrent publishes on
 * PostgreSQL (pool of 10) left client syncs waiting for a connection until knex timed out. With
 * it, a process holds at most one connection for catalog writes; writers in other processes or
 * nodes still meet at the row lock.
 */
const queues = new WeakMap<Knex, Promise<unknown>>();

export async function writeCatalog<T>(
  db: Knex,
  work: (trx: Knex.Transaction) => Promise<T>,
): Promise<T> {
  const ahead = queues.get(db) ?? Promise.resolve();
  const mine = ahead.then(() => db.transaction(work));
  // The queue goes on whether this writer succeeds or fails.
  const settled = mine.then(
    () => undefined,
    () => undefined,
  );
  queues.set(db, settled);
  try {
    return await mine;
  } finally {
    if (queues.get(db) === settled) queues.delete(db);
  }
}
