import { createHash } from 'node:crypto';
import type { Knex } from 'knex';
import type { Site } from '../app.js';
import type { SiteConfig } from '../config/schema.js';
import { UpcatError } from '../errors.js';
import { dbKind, migrate, openDb, type Db } from '../storage/db.js';
import { databaseIsEmpty } from './db-dump.js';
import { dependencyOrder, describeTables, type TableInfo } from './db-tables.js';

/** Rows read per page. */
const PAGE = 2000;

export interface TableCopy {
  table: string;
  rows: number;
  /** SHA-256 of the table's rows, the same on both sides (see tableDigest). */
  digest: string;
}

export interface MigrateReport {
  from: 'sqlite' | 'postgres';
  to: 'sqlite' | 'postgres';
  target: string;
  tables: TableCopy[];
  rows: number;
}

/**
 * `upcat migrate-db --to postgres://… | sqlite` (issue 13 item 2): copies every table of the
 * site's database into an empty database of the other kind, made by the same migrations, then
 * checks each table row by row: the count and a digest of every row's values (normalised:
 * booleans as 0/1, integers as decimal text) must match. The source is read in one transaction
 * (a consistent snapshot); the site should be stopped, or what it writes meanwhile stays behind.
 */
export async function migrateDatabase(
  site: Site,
  to: string,
  options: { schema?: string } = {},
): Promise<MigrateReport> {
  const targetConfig = targetOf(site.config, to, options.schema);
  const from = dbKind(site.db);
  const toKind = targetConfig.database.url === undefined ? 'sqlite' : 'postgres';
  if (from === toKind && toKind === 'sqlite') {
    throw new UpcatError(
      'invalid_input',
      'the site already uses SQLite; --to names the other database',
    );
  }
  const target = openDb(targetConfig);
  try {
    if (!(await databaseIsEmpty(target))) {
      throw new UpcatError(
        'conflict',
        `the target database ${describe(targetConfig)} is not empty; migrate-db copies into an empty one only`,
      );
    }
    await migrate(target);
    const tables = dependencyOrder(await describeTables(target));
    const sourceTables = new Map((await describeTables(site.db)).map((t) => [t.name, t]));
    for (const t of tables) {
      if (!sourceTables.has(t.name))
        throw new UpcatError('integrity', `the source database has no table ${t.name}`);
    }
    // Rows the migrations seeded (builtin groups, catalog_state) make way for the source's.
    await target.transaction(async (trx) => {
      for (const t of [...tables].reverse()) await trx(t.name).delete();
    });
    const copies = await readSnapshot(site.db, async (src) => {
      for (const t of tables)
        await copyTable(src, target, sourceTables.get(t.name) as TableInfo, t);
      await fixSequences(target, tables);
      return compare(src, target, tables, sourceTables);
    });
    return {
      from,
      to: toKind,
      target: describe(targetConfig),
      tables: copies,
      rows: copies.reduce((n, c) => n + c.rows, 0),
    };
  } finally {
    await target.destroy();
  }
}

function targetOf(config: SiteConfig, to: string, schema: string | undefined): SiteConfig {
  if (to === 'sqlite') {
    if (config.database.url === undefined) {
      throw new UpcatError(
        'invalid_input',
        'the site already uses SQLite; --to names the other database',
      );
    }
    return { ...config, database: { ...config.database, url: undefined, schema: undefined } };
  }
  if (!/^postgres(ql)?:\/\//.test(to)) {
    throw new UpcatError('invalid_input', '--to must be postgres://… or sqlite');
  }
  if (schema !== undefined && !/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) {
    throw new UpcatError('invalid_input', '--schema must be a lower-case SQL identifier');
  }
  return { ...config, database: { ...config.database, url: to, schema } };
}

function describe(config: SiteConfig): string {
  if (config.database.url === undefined) return `SQLite ${config.dirs.catalog}/upcat.db`;
  const url = new URL(config.database.url);
  url.password = '';
  return `${url.host}${url.pathname}${config.database.schema === undefined ? '' : ` (schema ${config.database.schema})`}`;
}

/** Runs `fn` on one read snapshot of the source (repeatable read on PostgreSQL). */
async function readSnapshot<T>(db: Db, fn: (src: Knex.Transaction) => Promise<T>): Promise<T> {
  return db.transaction(async (trx) => {
    if (dbKind(db) === 'postgres') await trx.raw('set transaction isolation level repeatable read');
    return fn(trx);
  });
}

function orderColumns(t: TableInfo): string[] {
  return t.primaryKey.length > 0 ? t.primaryKey : [...t.columns.keys()];
}

async function* pages(
  src: Knex.Transaction,
  t: TableInfo,
): AsyncGenerator<Array<Record<string, unknown>>> {
  for (let offset = 0; ; offset += PAGE) {
    const rows = (await src(t.name).orderBy(orderColumns(t)).limit(PAGE).offset(offset)) as Array<
      Record<string, unknown>
    >;
    if (rows.length === 0) return;
    yield rows;
    if (rows.length < PAGE) return;
  }
}

/** A value as the target's column takes it (PostgreSQL booleans from SQLite's 0/1). */
function convert(value: unknown, kind: string | undefined): unknown {
  if (value === null || value === undefined) return null;
  if (kind === 'bool') return value === true || value === 1 || value === '1' || value === 't';
  return value;
}

async function copyTable(
  src: Knex.Transaction,
  target: Db,
  from: TableInfo,
  to: TableInfo,
): Promise<void> {
  const columns = [...to.columns.keys()].filter((c) => from.columns.has(c));
  const chunk = Math.max(1, Math.floor(30_000 / Math.max(1, columns.length)));
  const deferred: Array<Record<string, unknown>> = [];
  for await (const rows of pages(src, from)) {
    const out = rows.map((row) => {
      const r: Record<string, unknown> = {};
      for (const c of columns) r[c] = convert(row[c], to.columns.get(c));
      if (to.selfReferences.length > 0) {
        const later: Record<string, unknown> = {};
        for (const c of to.selfReferences) {
          later[c] = r[c];
          r[c] = null;
        }
        deferred.push({ key: pick(r, orderColumns(to)), later });
      }
      return r;
    });
    await target.batchInsert(to.name, out, chunk);
  }
  // References into the same table (an update superseded by a later one) once every row exists.
  for (const d of deferred) {
    const later = d['later'] as Record<string, unknown>;
    if (Object.values(later).every((v) => v === null)) continue;
    await target(to.name)
      .where(d['key'] as Record<string, unknown>)
      .update(later);
  }
}

function pick(row: Record<string, unknown>, columns: string[]): Record<string, unknown> {
  return Object.fromEntries(columns.map((c) => [c, row[c]]));
}

/** PostgreSQL serial columns continue after the copied ids. */
async function fixSequences(target: Db, tables: readonly TableInfo[]): Promise<void> {
  if (dbKind(target) !== 'postgres') return;
  const serials = (
    (await target.raw(
      "select table_name as t, column_name as c from information_schema.columns where table_schema = current_schema() and column_default like 'nextval(%'",
    )) as { rows: Array<{ t: string; c: string }> }
  ).rows;
  const known = new Set(tables.map((t) => t.name));
  for (const { t, c } of serials) {
    if (!known.has(t)) continue;
    await target.raw(
      `select setval(pg_get_serial_sequence(?, ?), coalesce((select max("${c}") from "${t}"), 1), (select max("${c}") from "${t}") is not null)`,
      [t, c],
    );
  }
}

async function compare(
  src: Knex.Transaction,
  target: Db,
  tables: readonly TableInfo[],
  sourceTables: Map<string, TableInfo>,
): Promise<TableCopy[]> {
  const out: TableCopy[] = [];
  for (const t of tables) {
    const from = sourceTables.get(t.name) as TableInfo;
    let a = await tableDigest(src, from, t);
    let b = await tableDigest(target, t, t);
    if (a.digest !== b.digest && !tables.some((x) => x.references.has(t.name))) {
      // A table that triggers keep (change counters moved by the copy itself): copy it again.
      await target(t.name).delete();
      await copyTable(src, target, from, t);
      a = await tableDigest(src, from, t);
      b = await tableDigest(target, t, t);
    }
    if (a.rows !== b.rows || a.digest !== b.digest) {
      throw new UpcatError(
        'integrity',
        `table ${t.name} differs after the copy (${a.rows} rows in the source, ${b.rows} in the target); the target is left as it is for inspection`,
      );
    }
    out.push({ table: t.name, rows: a.rows, digest: a.digest });
  }
  return out;
}

/**
 * An order-free digest of a table: SHA-256 over each row's normalised values (the columns both
 * sides have, by name), combined by XOR with the row count. Order-free because SQLite and
 * PostgreSQL collate text differently, so "order by" gives the two sides different orders.
 */
async function tableDigest(
  q: Knex | Knex.Transaction,
  t: TableInfo,
  columnsOf: TableInfo,
): Promise<{ rows: number; digest: string }> {
  const columns = [...columnsOf.columns.keys()].filter((c) => t.columns.has(c)).sort();
  const acc = Buffer.alloc(32);
  let rows = 0;
  for (let offset = 0; ; offset += PAGE) {
    const page = (await q(t.name)
      .orderBy(orderColumns(t))
      .limit(PAGE)
      .offset(offset)
      .select(columns)) as Array<Record<string, unknown>>;
    for (const row of page) {
      const values = columns.map((c) => normalise(row[c], columnsOf.columns.get(c)));
      const h = createHash('sha256').update(JSON.stringify(values)).digest();
      for (let i = 0; i < 32; i++) acc[i] = (acc[i] as number) ^ (h[i] as number);
      rows += 1;
    }
    if (page.length < PAGE) break;
  }
  const digest = createHash('sha256').update(acc).update(String(rows)).digest('hex');
  return { rows, digest };
}

function normalise(value: unknown, kind: string | undefined): string | null {
  if (value === null || value === undefined) return null;
  if (kind === 'bool')
    return value === true || value === 1 || value === '1' || value === 't' ? '1' : '0';
  if (kind === 'int') return BigInt(value as string | number).toString();
  if (kind === 'real') return String(Number(value));
  return String(value);
}
