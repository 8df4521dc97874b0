import { createHash } from 'node:crypto';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Site } from '../../src/app.js';

/**
 * A digest of everything a site stores (every table's rows, every file under its home but the
 * logs), for tests that must show a request changed nothing. Columns that a read legitimately
 * writes are left out: when a caller was last seen or a token last used, and the rate limiter's
 * counters.
 */
const VOLATILE_COLUMNS = new Set([
  'last_seen_at',
  'last_used_at',
  'last_contact_at',
  'last_sync_at',
  'updated_at',
]);
const VOLATILE_TABLES = new Set(['knex_migrations_lock', 'rate_limits']);

export async function storedState(site: Site): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const table of await tablesOf(site)) {
    if (VOLATILE_TABLES.has(table)) continue;
    const rows = (await site.db(table).select('*')) as Array<Record<string, unknown>>;
    const lines = rows
      .map((row) =>
        JSON.stringify(
          Object.keys(row)
            .filter((k) => !VOLATILE_COLUMNS.has(k))
            .sort()
            .map((k) => [k, String(row[k])]),
        ),
      )
      .sort();
    out.set(`table ${table}`, `${rows.length} ${sha(lines.join('\n'))}`);
  }
  for (const file of await filesUnder(site.config.home)) {
    // A file renamed away between the listing and the stat is simply not there.
    const size = (await stat(file).catch(() => undefined))?.size;
    if (size !== undefined) out.set(`file ${path.relative(site.config.home, file)}`, String(size));
  }
  return out;
}

/** The keys whose value differs between two digests (added, removed or changed). */
export function changedKeys(a: Map<string, string>, b: Map<string, string>): string[] {
  const keys = new Set([...a.keys(), ...b.keys()]);
  return [...keys].filter((k) => a.get(k) !== b.get(k)).sort();
}

async function tablesOf(site: Site): Promise<string[]> {
  if (site.db.client.config.client === 'pg') {
    const rows = (await site.db.raw(
      'select table_name as name from information_schema.tables where table_schema = current_schema()',
    )) as { rows: Array<{ name: string }> };
    return rows.rows.map((r) => r.name).sort();
  }
  const rows = (await site.db.raw(
    "select name from sqlite_master where type = 'table' and name not like 'sqlite_%'",
  )) as Array<{ name: string }>;
  return rows.map((r) => r.name).sort();
}

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const full = path.join(dir, entry.name);
    // The database files change size with checkpoints; their rows are compared above.
    if (/\.db(-wal|-shm|-journal)?$/.test(entry.name) || entry.name === 'logs') continue;
    if (entry.isDirectory()) out.push(...(await filesUnder(full)));
    else if (entry.isFile()) out.push(full);
  }
  return out;
}

const sha = (s: string): string => createHash('sha256').update(s).digest('hex');
