import type { SiteConfig } from '../config/schema.js';
import { UpcatError } from '../errors.js';
import type { Db } from '../storage/db.js';
import { tufRepoDir } from './tuf-repo.js';
import { DatabaseMetadataStore } from './tuf-store-db.js';
import { FileMetadataStore, type MetadataStore } from './tuf-store.js';

export type MetadataKindName = 'files' | 'database';

export interface MetadataMigrationReport {
  from: MetadataKindName;
  to: MetadataKindName;
  dryRun: boolean;
  /** Metadata files (rows) copied, or that would be. */
  files: number;
  bytes: number;
}

/**
 * `upcat migrate-storage --metadata <files|database>` (issue 15 item 2): copies every metadata
 * file of the TUF repository from the site's current store into the other one, under both
 * stores' writer locks, then reads each back and compares bytes. The target must be empty: a
 * repository is never merged. Versioned files go first and timestamp.json last, so the files
 * target is whole at every moment; the database target takes them in one transaction.
 */
export async function migrateMetadata(
  config: SiteConfig,
  db: Db,
  to: MetadataKindName,
  options: { dryRun?: boolean } = {},
): Promise<MetadataMigrationReport> {
  const files = new FileMetadataStore(tufRepoDir(config.dirs.catalog));
  const rows = new DatabaseMetadataStore(db, config.server.changePollMs);
  const [source, target] = to === 'database' ? [files, rows] : [rows, files];
  const report = (count: number, bytes: number): MetadataMigrationReport => ({
    from: source.kind,
    to: target.kind,
    dryRun: options.dryRun === true,
    files: count,
    bytes,
  });
  return source.writing(async (from) => {
    const names = order(await source.list());
    if (names.length === 0) {
      throw new UpcatError('not_found', `no TUF metadata in ${source.label} to move`);
    }
    if ((await target.list()).length > 0) {
      throw new UpcatError(
        'conflict',
        `${target.label} already holds TUF metadata; remove it first (a repository is never merged)`,
      );
    }
    const copied = new Map<string, Buffer>();
    for (const name of names) {
      const bytes = await from.read(name);
      if (bytes !== undefined) copied.set(name, bytes);
    }
    const total = [...copied.values()].reduce((n, b) => n + b.length, 0);
    if (options.dryRun === true) return report(copied.size, total);
    await target.writing(async (into) => {
      for (const [name, bytes] of copied) await into.write(name, bytes);
    });
    await checkCopy(target, copied);
    return report(copied.size, total);
  });
}

/** Versioned files first, then root.json, then timestamp.json (what makes a version visible). */
function order(names: string[]): string[] {
  const rank = (n: string): number => (n === 'timestamp.json' ? 2 : n === 'root.json' ? 1 : 0);
  return [...names].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}

async function checkCopy(target: MetadataStore, copied: Map<string, Buffer>): Promise<void> {
  for (const [name, bytes] of copied) {
    const back = await target.read(name);
    if (back === undefined || !back.equals(bytes)) {
      throw new UpcatError('integrity', `${name} reads back different from ${target.label}`);
    }
  }
}
