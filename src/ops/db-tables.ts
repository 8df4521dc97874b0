import { dbKind, type Db } from '../storage/db.js';

/** What a copy needs to know about one table, read from the database's own catalog. */
export interface TableInfo {
  name: string;
  /** Column name → kind, for converting and comparing values across engines. */
  columns: Map<string, 'bool' | 'int' | 'real' | 'text'>;
  /** Primary key columns (a stable order for paging). */
  primaryKey: string[];
  /** Tables this one references by foreign key (itself excluded). */
  references: Set<string>;
  /** Columns that reference this same table (inserted as null, set afterwards). */
  selfReferences: string[];
}

/** Bookkeeping tables that each database keeps for itself. */
const OWN_TABLES = new Set(['knex_migrations', 'knex_migrations_lock', 'sqlite_sequence']);

export async function describeTables(db: Db): Promise<TableInfo[]> {
  const names =
    dbKind(db) === 'sqlite'
      ? (
          (await db.raw(
            "select name from sqlite_master where type = 'table' and name not like 'sqlite_%'",
          )) as Array<{ name: string }>
        ).map((r) => r.name)
      : (
          (await db.raw(
            "select table_name as name from information_schema.tables where table_schema = current_schema() and table_type = 'BASE TABLE'",
          )) as { rows: Array<{ name: string }> }
        ).rows.map((r) => r.name);
  const out: TableInfo[] = [];
  for (const name of names.filter((n) => !OWN_TABLES.has(n)).sort()) {
    out.push(dbKind(db) === 'sqlite' ? await sqliteTable(db, name) : await pgTable(db, name));
  }
  return out;
}

function kindOf(type: string): 'bool' | 'int' | 'real' | 'text' {
  const t = type.toLowerCase();
  if (t.includes('bool')) return 'bool';
  if (t.includes('int') || t.includes('serial')) return 'int';
  if (t.includes('real') || t.includes('double') || t.includes('float') || t.includes('numeric'))
    return 'real';
  return 'text';
}

async function sqliteTable(db: Db, name: string): Promise<TableInfo> {
  const cols = (await db.raw(`pragma table_info("${name}")`)) as Array<{
    name: string;
    type: string;
    pk: number;
  }>;
  const fks = (await db.raw(`pragma foreign_key_list("${name}")`)) as Array<{
    table: string;
    from: string;
  }>;
  return {
    name,
    columns: new Map(cols.map((c) => [c.name, kindOf(c.type)])),
    primaryKey: cols
      .filter((c) => c.pk > 0)
      .sort((a, b) => a.pk - b.pk)
      .map((c) => c.name),
    references: new Set(fks.filter((f) => f.table !== name).map((f) => f.table)),
    selfReferences: fks.filter((f) => f.table === name).map((f) => f.from),
  };
}

async function pgTable(db: Db, name: string): Promise<TableInfo> {
  const cols = (
    (await db.raw(
      'select column_name as name, data_type as type from information_schema.columns where table_schema = current_schema() and table_name = ? order by ordinal_position',
      [name],
    )) as { rows: Array<{ name: string; type: string }> }
  ).rows;
  const pk = (
    (await db.raw(
      `select k.column_name as name from information_schema.table_constraints c
       join information_schema.key_column_usage k
         on k.constraint_name = c.constraint_name and k.table_schema = c.table_schema
       where c.table_schema = current_schema() and c.table_name = ? and c.constraint_type = 'PRIMARY KEY'
       order by k.ordinal_position`,
      [name],
    )) as { rows: Array<{ name: string }> }
  ).rows;
  const fks = (
    (await db.raw(
      `select k.column_name as "from", u.table_name as "table" from information_schema.table_constraints c
       join information_schema.key_column_usage k
         on k.constraint_name = c.constraint_name and k.table_schema = c.table_schema
       join information_schema.constraint_column_usage u
         on u.constraint_name = c.constraint_name and u.table_schema = c.table_schema
       where c.table_schema = current_schema() and c.table_name = ? and c.constraint_type = 'FOREIGN KEY'`,
      [name],
    )) as { rows: Array<{ from: string; table: string }> }
  ).rows;
  return {
    name,
    columns: new Map(cols.map((c) => [c.name, kindOf(c.type)])),
    primaryKey: pk.map((c) => c.name),
    references: new Set(fks.filter((f) => f.table !== name).map((f) => f.table)),
    selfReferences: fks.filter((f) => f.table === name).map((f) => f.from),
  };
}

/** Tables in an order where every table comes after those it references. */
export function dependencyOrder(tables: readonly TableInfo[]): TableInfo[] {
  const byName = new Map(tables.map((t) => [t.name, t]));
  const out: TableInfo[] = [];
  const seen = new Set<string>();
  const visit = (t: TableInfo, path: Set<string>): void => {
    if (seen.has(t.name) || path.has(t.name)) return;
    path.add(t.name);
    for (const ref of t.references) {
      const r = byName.get(ref);
      if (r !== undefined) visit(r, path);
    }
    seen.add(t.name);
    out.push(t);
  };
  for (const t of tables) visit(t, new Set());
  return out;
}
