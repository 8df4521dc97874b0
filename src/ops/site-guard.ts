import { stat } from 'node:fs/promises';
import path from 'node:path';
import sqlite3 from 'sqlite3';
import type { SiteConfig } from '../config/schema.js';
import { UpcatError } from '../errors.js';
import { readRepository, tufRepoDir } from '../signing/tuf-repo.js';
import { SQLITE_FILE, dbKind, type Db } from '../storage/db.js';
import { databaseIsEmpty } from './db-dump.js';

/**
 * Issue 13 item 2: a site must not start on an empty database when its home holds the data of
 * another one (DATABASE_URL newly set on a site whose catalog/upcat.db has clients, or a
 * database lost under a TUF repository that has published versions): it would serve an empty
 * catalog, lock every agent out ("unknown client secret") and sign catalog versions clients
 * already hold with other content. Called by openSite before migrations create the tables, so
 * every command that opens the site refuses with one line naming both.
 */
export async function assertDatabaseMatchesHome(db: Db, config: SiteConfig): Promise<void> {
  if (!(await databaseIsEmpty(db))) return;
  const evidence: string[] = [];
  if (dbKind(db) === 'postgres') {
    const file = path.join(config.dirs.catalog, SQLITE_FILE);
    const facts = await sqliteFacts(file);
    if (facts !== undefined && (facts.clients > 0 || facts.catalogVersion > 0)) {
      evidence.push(`${file} (${facts.clients} clients, catalog version ${facts.catalogVersion})`);
    }
  }
  const repoDir = tufRepoDir(config.dirs.catalog);
  const repo = await readRepository(repoDir).catch(() => undefined);
  if (repo !== undefined && ((repo.catalogVersion ?? 0) > 0 || repo.timestampVersion > 1)) {
    evidence.push(
      `the TUF repository ${repoDir} (catalog version ${repo.catalogVersion ?? 0}, timestamp version ${repo.timestampVersion})`,
    );
  }
  if (evidence.length === 0) return;
  throw new UpcatError(
    'conflict',
    `the ${describeDb(db, config)} is empty but the site home ${config.home} holds another database's data: ` +
      `${evidence.join(' and ')}; point the site back at that database, move it with "upcat migrate-db", ` +
      'or restore a backup into a new home',
  );
}

function describeDb(db: Db, config: SiteConfig): string {
  if (dbKind(db) === 'sqlite')
    return `SQLite database ${path.join(config.dirs.catalog, SQLITE_FILE)}`;
  const url = new URL(config.database.url ?? '');
  url.password = '';
  const schema = config.database.schema === undefined ? '' : ` (schema ${config.database.schema})`;
  return `PostgreSQL database ${url.host}${url.pathname}${schema}`;
}

/** Clients and catalog version of a SQLite site database, read-only; undefined when none. */
async function sqliteFacts(
  file: string,
): Promise<{ clients: number; catalogVersion: number } | undefined> {
  const st = await stat(file).catch(() => undefined);
  if (st === undefined || st.size === 0) return undefined;
  const conn = await new Promise<sqlite3.Database>((resolve, reject) => {
    const c = new sqlite3.Database(file, sqlite3.OPEN_READONLY, (err) =>
      err === null ? resolve(c) : reject(err),
    );
  }).catch(() => undefined);
  if (conn === undefined) return undefined;
  const one = (sql: string): Promise<number> =>
    new Promise((resolve) => {
      conn.get(sql, (err: Error | null, row: { n?: number } | undefined) =>
        resolve(err === null ? Number(row?.n ?? 0) : 0),
      );
    });
  try {
    return {
      clients: await one('select count(*) as n from clients'),
      catalogVersion: await one('select version as n from catalog_state where id = 1'),
    };
  } finally {
    await new Promise<void>((resolve) => conn.close(() => resolve()));
  }
}
