import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Site } from '../app.js';
import { CONFIG_FILE } from '../config/load.js';
import { UpcatError } from '../errors.js';
import { tufRepoDir } from '../signing/tuf-repo.js';
import { currentCatalogVersion } from '../storage/catalog-repo.js';
import { SQLITE_FILE } from '../storage/db.js';
import { SITE_VERSION } from '../version.js';
import { ArchiveWriter } from './archive.js';
import { BACKUP_FORMAT, ENTRY, type BackupManifest } from './backup-manifest.js';
import { dumpDatabase } from './db-dump.js';
import { packTree } from './tree-pack.js';
import { seal } from './secret-box.js';
import { highestVersions } from './tuf-jump.js';

export interface BackupOptions {
  out: string;
  /** Encrypts and includes signing/ (all keys) when given. */
  passphrase?: string;
}

export interface BackupResult {
  file: string;
  bytes: number;
  entries: number;
  manifest: BackupManifest;
  /** Payloads the database names whose pool file was already gone (collected by gc). */
  missingPayloads: number;
}

/**
 * `upcat backup` (issue 13 item 1): an online backup taken while publishes and syncs go on.
 * Order matters: the database snapshot first, then the pool objects it names (a committed row's
 * payload is renamed into the pool before its commit, so it is there to copy; pool files never
 * change under their name), then the TUF repository, whose highest versions are recorded for
 * `upcat restore` to jump above.
 */
export async function takeBackup(site: Site, options: BackupOptions): Promise<BackupResult> {
  const { config } = site;
  const out = path.resolve(options.out);
  if (existsSync(out))
    throw new UpcatError('conflict', `${out} already exists; choose a new file name`);
  const work = await mkdtemp(path.join(path.dirname(out), '.upcat-backup-'));
  const archive = new ArchiveWriter(out);
  try {
    const dumpFile = path.join(work, 'db');
    const kind = await dumpDatabase(site.db, config, dumpFile);
    const catalogVersion = await currentCatalogVersion(site.db);
    const payloads = (await site.db('blobs').select('sha256').orderBy('sha256')) as Array<{
      sha256: string;
    }>;
    const repoDir = tufRepoDir(config.dirs.catalog);
    const manifest: BackupManifest = {
      format: BACKUP_FORMAT,
      createdAt: new Date().toISOString(),
      upcatVersion: SITE_VERSION,
      siteCode: config.site.code,
      database: {
        kind,
        ...(kind === 'postgres' && config.database.schema !== undefined
          ? { schema: config.database.schema }
          : {}),
        catalogVersion,
      },
      tuf: await highestVersions(site.metadata),
      keys: options.passphrase !== undefined,
      payloads: payloads.length,
    };
    await archive.addBuffer(ENTRY.manifest, Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`));
    await archive.addFile(ENTRY.config, path.join(config.home, CONFIG_FILE), 0o600);
    if (options.passphrase !== undefined) {
      const keysTar = path.join(work, 'signing.tar');
      const inner = new ArchiveWriter(keysTar);
      await packTree(inner, config.dirs.signing, '');
      await inner.finish();
      await archive.addBuffer(
        ENTRY.keys,
        await seal(await readFile(keysTar), options.passphrase),
        0o600,
      );
    }
    await archive.addFile(kind === 'sqlite' ? ENTRY.sqlite : ENTRY.pgdump, dumpFile, 0o600);
    // The rest of catalog/ (the TUF repository and anything else), without the live database.
    // timestamp.json and root.json are read before the folder is listed: every file they name
    // was written before them (tuf-write.ts), so the listing holds it and the copy is whole.
    const relTuf = path.relative(config.dirs.catalog, repoDir).split(path.sep).join('/');
    const pointers = [`${relTuf}/timestamp.json`, `${relTuf}/root.json`];
    const held = await Promise.all(
      pointers.map((rel) => readFile(path.join(config.dirs.catalog, rel)).catch(() => undefined)),
    );
    await packTree(
      archive,
      config.dirs.catalog,
      ENTRY.catalog,
      (rel) => !isDatabaseFile(rel) && !isLockOrTemp(rel) && !pointers.includes(rel),
    );
    for (const [i, bytes] of held.entries()) {
      if (bytes !== undefined) await archive.addBuffer(`${ENTRY.catalog}${pointers[i]}`, bytes);
    }
    let missingPayloads = 0;
    for (const { sha256 } of payloads) {
      const rel = (p: string): string =>
        path.relative(config.dirs.packages, p).split(path.sep).join('/');
      const blob = site.pool.pathOf(sha256);
      if (!(await archive.addFile(`${ENTRY.packages}${rel(blob)}`, blob, 0o644))) {
        missingPayloads += 1;
        continue;
      }
      const sig = site.pool.signaturePathOf(sha256);
      await archive.addFile(`${ENTRY.packages}${rel(sig)}`, sig, 0o644);
    }
    await archive.finish();
    return { file: out, bytes: archive.bytes, entries: archive.entries, manifest, missingPayloads };
  } catch (err) {
    await archive.abort();
    throw err;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

function isDatabaseFile(rel: string): boolean {
  return rel === SQLITE_FILE || rel.startsWith(`${SQLITE_FILE}-`);
}

/** Lock files and the temporary files of atomic writes: never part of a backup. */
export function isLockOrTemp(rel: string): boolean {
  const base = path.posix.basename(rel);
  return base === '.lock' || base.startsWith('.lock.') || base.endsWith('.tmp');
}
