import { spawn } from 'node:child_process';
import type { SiteConfig } from '../config/schema.js';
import { UpcatError } from '../errors.js';
import { dbKind, type Db, type DbKind } from '../storage/db.js';

/**
 * The database part of a backup. SQLite: `VACUUM INTO`, which reads one consistent snapshot
 * (a read transaction) while other connections go on writing, and writes a compact copy
 * (SQLite "VACUUM INTO", 3.27+). PostgreSQL: `pg_dump --format=custom`, which dumps one
 * snapshot (its own repeatable-read transaction) without blocking writers.
 */
export async function dumpDatabase(db: Db, config: SiteConfig, out: string): Promise<DbKind> {
  const kind = dbKind(db);
  if (kind === 'sqlite') {
    await db.raw('VACUUM INTO ?', [out]);
    return kind;
  }
  const { args, env } = pgConnection(config);
  const schema = config.database.schema;
  await run(
    'pg_dump',
    [
      '--format=custom',
      '--no-owner',
      '--no-privileges',
      ...(schema === undefined ? [] : ['--schema', schema]),
      '--file',
      out,
      ...args,
    ],
    env,
  );
  return kind;
}

/** Loads a pg_dump file into the site's (empty) PostgreSQL database, all or nothing. */
export async function restorePostgres(config: SiteConfig, dump: string): Promise<void> {
  const { args, env } = pgConnection(config);
  await run(
    'pg_restore',
    ['--no-owner', '--no-privileges', '--exit-on-error', '--single-transaction', ...args, dump],
    env,
  );
}

/**
 * The connection for the PostgreSQL tools: the URL without its password on the command line
 * (where `ps` shows it to every user), the password in PGPASSWORD.
 */
function pgConnection(config: SiteConfig): { args: string[]; env: NodeJS.ProcessEnv } {
  const raw = config.database.url;
  if (raw === undefined) throw new UpcatError('internal', 'no PostgreSQL URL configured');
  const url = new URL(raw);
  const password = decodeURIComponent(url.password);
  url.password = '';
  const env: NodeJS.ProcessEnv = { ...process.env };
  if (password !== '') env['PGPASSWORD'] = password;
  return { args: ['--dbname', url.toString()], env };
}

function run(tool: string, args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(tool, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      if (stderr.length < 4096) stderr += d.toString();
    });
    child.on('error', (err) =>
      reject(
        new UpcatError(
          'internal',
          `cannot run ${tool} (is the PostgreSQL client installed?): ${err.message}`,
        ),
      ),
    );
    child.on('close', (code) => {
      if (code === 0) resolve();
      else {
        const line = stderr.trim().split('\n')[0] ?? '';
        reject(new UpcatError('internal', `${tool} failed (exit ${code}): ${line}`));
      }
    });
  });
}

/** True when the site's database holds no upcat tables yet (a fresh database or schema). */
export async function databaseIsEmpty(db: Db): Promise<boolean> {
  if (dbKind(db) === 'sqlite') {
    const rows = (await db.raw(
      "select count(*) as n from sqlite_master where type = 'table' and name not like 'sqlite_%'",
    )) as Array<{ n: number }>;
    return Number(rows[0]?.n ?? 0) === 0;
  }
  const res = (await db.raw(
    'select count(*) as n from information_schema.tables where table_schema = current_schema()',
  )) as { rows: Array<{ n: string }> };
  return Number(res.rows[0]?.n ?? 0) === 0;
}
