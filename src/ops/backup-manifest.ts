import { z } from 'zod';

/** `backup.json`, the first entry of every backup: what it holds and the versions it saw. */
export const BACKUP_FORMAT = 'upcat-backup/1';

const versions = z
  .object({
    root: z.number().int().min(0),
    timestamp: z.number().int().min(0),
    snapshot: z.number().int().min(0),
    targets: z.number().int().min(0),
    bins: z.number().int().min(0),
    catalogVersion: z.number().int().min(0),
  })
  .strict();

export const backupManifestSchema = z
  .object({
    format: z.literal(BACKUP_FORMAT),
    createdAt: z.string(),
    upcatVersion: z.string(),
    siteCode: z.string(),
    database: z
      .object({
        kind: z.enum(['sqlite', 'postgres']),
        /** The PostgreSQL schema the tables were dumped from (pg_dump keeps schema names). */
        schema: z.string().optional(),
        /** `catalog_state.version` in the dumped snapshot... or later: read after the dump. */
        catalogVersion: z.number().int().min(0),
      })
      .strict(),
    /** The highest TUF versions present when the backup was taken. */
    tuf: versions,
    /** Whether `signing.enc` (the signing folder, passphrase-encrypted) is included. */
    keys: z.boolean(),
    payloads: z.number().int().min(0),
  })
  .strict();

export type BackupManifest = z.infer<typeof backupManifestSchema>;

/** Entry names. */
export const ENTRY = {
  manifest: 'backup.json',
  config: 'upcat.config.json',
  keys: 'signing.enc',
  sqlite: 'database/upcat.db',
  pgdump: 'database/upcat.pgdump',
  catalog: 'catalog/',
  packages: 'packages/',
} as const;
