import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { cp, mkdir, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { extract } from 'tar-stream';
import { openSite } from '../app.js';
import { CONFIG_FILE, loadConfig } from '../config/load.js';
import type { SiteConfig } from '../config/schema.js';
import { UpcatError } from '../errors.js';
import { desiredCatalog } from '../publish/catalog-targets.js';
import * as repo from '../storage/catalog-repo.js';
import { SQLITE_FILE, openDb } from '../storage/db.js';
import { checkEntryName, readArchive, readEntry, type Entry } from './archive.js';
import { backupManifestSchema, ENTRY, type BackupManifest } from './backup-manifest.js';
import { databaseIsEmpty, restorePostgres } from './db-dump.js';
import { open } from './secret-box.js';
import { jumpBase, resignAt } from './tuf-jump.js';

/**
 * How far above the backup's highest versions a restore re-signs: a fixed part for whatever the
 * site published after the backup, plus one per second since the backup was taken (a publish
 * or a timestamp refresh every second, around the clock, stays below it).
 */
export const DEFAULT_VERSION_MARGIN = 1_000_000;
/** Catalog versions are int4 columns on PostgreSQL. */
const MAX_VERSION = 2_147_483_647;

export interface RestoreOptions {
  file: string;
  home: string;
  env?: NodeJS.ProcessEnv;
  passphrase?: string;
  /** A copy of the site's signing/ folder, for a backup taken without --include-keys. */
  signingFrom?: string;
  margin?: number;
  now?: () => Date;
}

export interface RestoreResult {
  home: string;
  backupCreatedAt: string;
  margin: number;
  /** The version every online TUF role (targets, bins, snapshot, timestamp) now has. */
  tufVersion: number;
  backupTuf: BackupManifest['tuf'];
  catalogVersion: number;
  backupCatalogVersion: number;
  payloads: number;
}

/**
 * `upcat restore` (issue 13 item 1): into an empty home only. The files come back as they were,
 * then the database's catalog version and every online TUF role jump above anything the backed-up
 * site could have published since (the highest versions it recorded plus a margin), so no client
 * that saw a later catalog is rolled back (TUF spec §5.4.3, §5.5.5, §5.6.3) and no sync anchor of a
 * later catalog version matches a different catalog. Keys come back unchanged: root, the policy
 * key and the anchor key keep working, and agents carry on without intervention.
 */
export async function restoreBackup(options: RestoreOptions): Promise<RestoreResult> {
  const env = options.env ?? process.env;
  const home = path.resolve(options.home);
  await assertEmptyDir(home, 'the site home');
  const entries = readArchive(options.file);
  const manifest = await readManifest(entries, options.file);
  if (manifest.keys && options.passphrase === undefined) {
    throw new UpcatError(
      'invalid_input',
      'this backup holds encrypted signing keys: give --passphrase-file or set UPCAT_BACKUP_PASSPHRASE',
    );
  }
  if (manifest.keys && options.signingFrom !== undefined) {
    throw new UpcatError(
      'invalid_input',
      'this backup holds the signing keys itself; --signing-from is for backups taken without --include-keys',
    );
  }
  if (!manifest.keys && options.signingFrom === undefined) {
    throw new UpcatError(
      'invalid_input',
      "this backup holds no signing keys (taken without --include-keys): give --signing-from with a copy of the site's signing/ folder",
    );
  }
  await mkdir(home, { recursive: true, mode: 0o750 });
  let first = await entries.next();
  if (!first.done && first.value.header.name === ENTRY.config) {
    await writeEntry(first.value, path.join(home, CONFIG_FILE), 0o600);
    first = await entries.next();
  }
  const config = loadConfig({ home, env });
  await checkTarget(config, manifest);
  if (options.signingFrom !== undefined)
    await cp(options.signingFrom, config.dirs.signing, { recursive: true });

  let pgDump: string | undefined;
  let payloads = 0;
  for (let next = first; !next.done; next = await entries.next()) {
    const entry = next.value;
    const name = entry.header.name;
    if (name === ENTRY.keys) {
      await extractKeys(
        await readEntry(entry, 64 * 1024 * 1024),
        options.passphrase ?? '',
        config.dirs.signing,
      );
    } else if (name === ENTRY.sqlite) {
      await writeEntry(entry, path.join(config.dirs.catalog, SQLITE_FILE), 0o600);
    } else if (name === ENTRY.pgdump) {
      pgDump = path.join(home, '.restore.pgdump');
      await writeEntry(entry, pgDump, 0o600);
    } else if (name.startsWith(ENTRY.catalog)) {
      await writeEntry(entry, path.join(config.dirs.catalog, name.slice(ENTRY.catalog.length)));
    } else if (name.startsWith(ENTRY.packages)) {
      const rel = name.slice(ENTRY.packages.length);
      const pool = /^pool\/[0-9a-f]{2}\/([0-9a-f]{64})$/.exec(rel);
      await writeEntry(entry, path.join(config.dirs.packages, rel), 0o644, pool?.[1]);
      if (pool !== null) payloads += 1;
    } else {
      throw new UpcatError('invalid_input', `the backup holds an unexpected entry ${name}`);
    }
  }
  if (pgDump !== undefined) {
    await restorePostgres(config, pgDump);
    await rm(pgDump, { force: true });
  }
  return jumpVersions(config, env, manifest, options, payloads);
}

async function readManifest(entries: AsyncGenerator<Entry>, file: string): Promise<BackupManifest> {
  const first = await entries.next();
  if (first.done || first.value.header.name !== ENTRY.manifest) {
    throw new UpcatError(
      'invalid_input',
      `${file} is not an upcat backup (no ${ENTRY.manifest} first)`,
    );
  }
  const parsed = backupManifestSchema.safeParse(
    JSON.parse((await readEntry(first.value, 1024 * 1024)).toString('utf8')),
  );
  if (!parsed.success) {
    throw new UpcatError(
      'invalid_input',
      `${file}: ${ENTRY.manifest} is not a backup manifest this upcat reads`,
    );
  }
  return parsed.data;
}

/** The restored site's database must be of the backup's kind, and empty. */
async function checkTarget(config: SiteConfig, manifest: BackupManifest): Promise<void> {
  const kind = config.database.url === undefined ? 'sqlite' : 'postgres';
  if (kind !== manifest.database.kind) {
    throw new UpcatError(
      'invalid_input',
      `the backup holds a ${manifest.database.kind} database but the restored site is configured for ${kind}` +
        (kind === 'postgres'
          ? ' (unset DATABASE_URL, restore, then move it with upcat migrate-db)'
          : ' (set DATABASE_URL)'),
    );
  }
  for (const dir of Object.values(config.dirs)) await assertEmptyDir(dir, `the site folder`);
  if (kind === 'sqlite') return;
  if ((manifest.database.schema ?? undefined) !== config.database.schema) {
    throw new UpcatError(
      'invalid_input',
      `the backup's tables are in PostgreSQL schema ${manifest.database.schema ?? 'public'}; restore with UPCAT_DATABASE_SCHEMA=${manifest.database.schema ?? ''} (now ${config.database.schema ?? 'unset'})`,
    );
  }
  const db = openDb(config);
  try {
    if (!(await databaseIsEmpty(db))) {
      throw new UpcatError(
        'conflict',
        `the PostgreSQL database (schema ${config.database.schema ?? 'public'}) is not empty; restore needs an empty one`,
      );
    }
    // pg_restore creates the schema itself; an empty one made by connecting would be in its way.
    if (config.database.schema !== undefined)
      await db.raw(`drop schema if exists "${config.database.schema}"`);
  } finally {
    await db.destroy();
  }
}

async function jumpVersions(
  config: SiteConfig,
  env: NodeJS.ProcessEnv,
  manifest: BackupManifest,
  options: RestoreOptions,
  payloads: number,
): Promise<RestoreResult> {
  const now = options.now?.() ?? new Date();
  const elapsed = Math.max(0, Math.ceil((now.getTime() - Date.parse(manifest.createdAt)) / 1000));
  const margin = (options.margin ?? DEFAULT_VERSION_MARGIN) + elapsed;
  const site = await openSite({ home: config.home, env, logLevel: 'silent' });
  try {
    if (site.signing === undefined) {
      throw new UpcatError(
        'integrity',
        `no signing keys under ${config.dirs.signing} after restore`,
      );
    }
    const catalogVersion = await site.db.transaction(async (trx) => {
      await repo.lockCatalog(trx);
      const current = await repo.currentCatalogVersion(trx);
      const next =
        Math.max(current, manifest.database.catalogVersion, manifest.tuf.catalogVersion) + margin;
      if (next > MAX_VERSION)
        throw new UpcatError(
          'invalid_input',
          `a margin of ${margin} takes the catalog version past ${MAX_VERSION}`,
        );
      await trx('catalog_state').where({ id: 1 }).update({ version: next });
      await trx('catalog_versions').insert({
        version: next,
        reason: 'restore',
        update_id: null,
        revision_number: null,
        actor: 'cli:restore',
        created_at: repo.now(),
      });
      await repo.audit(trx, {
        actor: 'cli:restore',
        action: 'restore',
        target: path.basename(options.file),
        detail: { backupCreatedAt: manifest.createdAt, margin, catalogVersion: next },
      });
      return next;
    });
    const tufVersion = jumpBase(manifest.tuf) + margin;
    await resignAt(
      site.metadata,
      site.signing.ring,
      tufVersion,
      await desiredCatalog(site.db),
      site.signing.repoOptions,
    );
    return {
      home: config.home,
      backupCreatedAt: manifest.createdAt,
      margin,
      tufVersion,
      backupTuf: manifest.tuf,
      catalogVersion,
      backupCatalogVersion: manifest.database.catalogVersion,
      payloads,
    };
  } finally {
    await site.close();
  }
}

/** Writes one entry; a pool object is checked against its name while it is written. */
async function writeEntry(
  entry: Entry,
  file: string,
  mode?: number,
  sha256?: string,
  dirMode = 0o755,
): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true, mode: dirMode });
  const hash = sha256 === undefined ? undefined : createHash('sha256');
  if (hash !== undefined) entry.on('data', (d: unknown) => void hash.update(d as Buffer));
  await pipeline(
    entry,
    createWriteStream(file, { flags: 'wx', mode: mode ?? (entry.header.mode ?? 0o644) & 0o777 }),
  );
  if (hash !== undefined && hash.digest('hex') !== sha256) {
    throw new UpcatError('integrity', `payload ${sha256} in the backup does not match its digest`);
  }
}

async function extractKeys(sealed: Buffer, passphrase: string, dir: string): Promise<void> {
  const plain = await open(sealed, passphrase);
  const ex = extract();
  Readable.from([plain]).pipe(ex);
  for await (const entry of ex) {
    const name = checkEntryName(entry.header.name);
    await writeEntry(entry, path.join(dir, name), undefined, undefined, 0o700);
  }
}

async function assertEmptyDir(dir: string, what: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return;
    if (code === 'ENOTDIR') throw new UpcatError('conflict', `${what} ${dir} is not a folder`);
    throw err;
  }
  if (names.length > 0) {
    throw new UpcatError('conflict', `${what} ${dir} is not empty; restore only into an empty one`);
  }
}
