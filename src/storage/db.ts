import { mkdirSync } from 'node:fs';
import path from 'node:path';
import knexFactory, { type Knex } from 'knex';
import type { SiteConfig } from '../config/schema.js';
import { migrationSource } from './migrations/index.js';

export type Db = Knex;
export type DbKind = 'sqlite' | 'postgres';

export const SQLITE_FILE = 'upcat.db';

export function dbKind(db: Db): DbKind {
  const client = db.client.config.client as string;
  return client === 'pg' ? 'postgres' : 'sqlite';
}

/**
 * Opens the site database: PostgreSQL when `database.url` is set, else the embedded SQLite file
 * under catalog/. SQLite runs in WAL mode with a busy timeout so that a CLI publish and a running
 * server can share the file; knex keeps one connection, which serializes this process's writers.
 */
export function openDb(config: SiteConfig): Db {
  const url = config.database.url;
  if (url !== undefined) {
    if (!/^postgres(ql)?:\/\//.test(url)) {
      throw new Error('database.url must start with postgres:// (or leave it unset for SQLite)');
    }
    const schema = config.database.schema;
    return knexFactory({
      client: 'pg',
      connection: url,
      searchPath: schema === undefined ? undefined : [schema],
      pool: {
        min: 0,
        max: 10,
        afterCreate: (conn: PgConn, done: (err: Error | null, conn: PgConn) => void) => {
          // Creating the schema on connect lets a fresh site (or test run) start on an empty database.
          if (schema === undefined) return done(null, conn);
          conn.query(`create schema if not exists "${schema}"`, (err) => done(err, conn));
        },
      },
      migrations: { migrationSource, tableName: 'knex_migrations' },
    });
  }
  mkdirSync(config.dirs.catalog, { recursive: true });
  const file = path.join(config.dirs.catalog, SQLITE_FILE);
  const busy = config.database.busyTimeoutMs;
  return beginImmediately(
    knexFactory({
      client: 'sqlite3',
      connection: { filename: file },
      useNullAsDefault: true,
      pool: {
        min: 1,
        max: 1,
        afterCreate: (conn: SqliteConn, done: (err: Error | null, conn: SqliteConn) => void) => {
          conn.configure('busyTimeout', busy);
          conn.exec(
            'PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL;',
            (err) => done(err, conn),
          );
        },
      },
      migrations: { migrationSource, tableName: 'knex_migrations' },
    }),
  );
}

/** What beginImmediately replaces of a knex transaction (knex's own, untyped, internals). */
interface TransactionInternals {
  begin(conn: unknown): Promise<unknown>;
  query(conn: unknown, sql: string): Promise<unknown>;
}

/**
 * Every SQLite transaction begins IMMEDIATE: it takes the write lock first, waiting up to the
 * busy timeout for another process's writer. A deferred one (knex sends "BEGIN;", with no option
 * for anything else) that reads and then writes fails with SQLITE_BUSY when another process (a
 * CLI command, another server) commits in between, because its snapshot is then stale and the
 * busy timeout cannot help it: a console login, a token or group created, status messages stored
 * while `upcat publish` ran. This process has one connection, so its own transactions queue as
 * before; another process's transactions wait for a writer's commit instead of failing.
 * Savepoints (nested transactions) are unchanged.
 */
function beginImmediately(db: Db): Db {
  const client = db.client as { transaction: (...args: unknown[]) => TransactionInternals };
  const create = client.transaction.bind(client);
  client.transaction = (...args: unknown[]): TransactionInternals => {
    const trx = create(...args);
    // knex calls begin after acquiring the connection, so after this assignment.
    trx.begin = (conn: unknown) => trx.query(conn, 'BEGIN IMMEDIATE;');
    return trx;
  };
  return db;
}

interface PgConn {
  query(sql: string, cb: (err: Error | null) => void): void;
}
interface SqliteConn {
  configure(option: 'busyTimeout', value: number): void;
  exec(sql: string, cb: (err: Error | null) => void): void;
}

/** Brings the schema up to date; safe to run on every start and from several processes. */
export async function migrate(db: Db): Promise<void> {
  await db.migrate.latest();
}

interface PoolCounts {
  numUsed(): number;
  numPendingAcquires(): number;
}

/**
 * Waits (up to `timeoutMs`) until no query holds or waits for a connection. A server's graceful
 * shutdown closes sockets first; requests whose client already went away can still be queued
 * behind SQLite's single connection, and destroying the pool under them turns each into an
 * "aborted" error in the log.
 */
export async function drainDb(db: Db, timeoutMs: number): Promise<void> {
  const pool = (db.client as { pool?: PoolCounts }).pool;
  if (pool === undefined) return;
  const until = Date.now() + timeoutMs;
  while (pool.numUsed() + pool.numPendingAcquires() > 0 && Date.now() < until) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
