import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { CONFIG_FILE, loadConfig, type LoadOptions } from './config/load.js';
import type { SiteConfig } from './config/schema.js';
import { createLogger, type Logger } from './log.js';
import { BlobPool } from './storage/blobs/pool.js';
import { openBlobStore } from './storage/blobs/open-store.js';
import type { BlobStore } from './storage/blobs/store.js';
import { drainDb, migrate, openDb, type Db } from './storage/db.js';
import { PublishService } from './publish/publish-service.js';
import { ExpireService } from './publish/expire-service.js';
import { UpdateAdminService } from './site/update-admin.js';
import { CatalogReader } from './publish/catalog-reader.js';
import { TufPublisher } from './publish/tuf-publisher.js';
import { initSiteSigning, loadSiteSigning, type SiteSigning } from './signing/site-signing.js';
import type { MetadataStore } from './signing/tuf-store.js';
import { openMetadataStore } from './signing/tuf-store-site.js';
import { createSiteServices, type SiteServices } from './site/index.js';
import { keepSitePrivate } from './site/private-files.js';
import { assertDatabaseMatchesHome } from './ops/site-guard.js';
import { agreeSiteKeys } from './sync/site-keys.js';

/** Everything a command or the server needs, built once from config (the composition root). */
export interface Site extends SiteServices {
  config: SiteConfig;
  log: Logger;
  db: Db;
  /** The site's file-system pool; with `storage.blobs.type = s3`, only its staging area. */
  pool: BlobPool;
  /** Where payloads, update documents and signatures live (storage.blobs, issue 15). */
  blobs: BlobStore;
  publish: PublishService;
  expire: ExpireService;
  /** Updates list, detail, decline (issue 14). */
  updateAdmin: UpdateAdminService;
  catalog: CatalogReader;
  /** Undefined until `upcat init` has made the keys. */
  signing: SiteSigning | undefined;
  tuf: TufPublisher | undefined;
  /** Where the TUF metadata lives: catalog/tuf/ or the database (storage.metadata, issue 15). */
  metadata: MetadataStore;
  close(): Promise<void>;
}

export interface OpenOptions extends LoadOptions {
  /** Log level override (the CLI keeps logs quiet unless asked). */
  logLevel?: string;
}

export async function openSite(options: OpenOptions = {}): Promise<Site> {
  const config = loadConfig(options);
  const log = createLogger(options.logLevel ?? config.log.level);
  await keepSitePrivate(config);
  const db = openDb(config);
  try {
    // Before migrations make the tables: an empty database under a home full of data is refused.
    await assertDatabaseMatchesHome(db, config);
    await migrate(db);
  } catch (err) {
    await db.destroy();
    throw err;
  }
  const pool = new BlobPool(config.dirs.packages);
  const blobs = await openBlobStore(config, pool);
  await blobs.init();
  const limits = config.limits;
  const signing = await loadSiteSigning(config);
  const metadata = openMetadataStore(config, db);
  const tuf =
    signing === undefined ? undefined : new TufPublisher({ db, signing, log, repo: metadata });
  const services = createSiteServices({ db, config, log });
  return {
    config,
    log,
    db,
    pool,
    blobs,
    signing,
    tuf,
    metadata,
    publish: new PublishService({ db, pool: blobs, limits, log, signing, tuf }),
    expire: new ExpireService({ db, log, tuf }),
    updateAdmin: new UpdateAdminService({ db, log, tuf }),
    catalog: new CatalogReader(db),
    ...services,
    close: async () => {
      await services.contacts.flush(); // last contacts held in memory (site/contacts.ts)
      await services.tokens.flush(); // last uses held in memory (site/tokens.ts)
      // Handlers whose client hung up may still be queued for a connection: let them finish.
      await drainDb(db, config.server.shutdownTimeoutMs);
      metadata.close(); // the database store's poll
      await db.destroy();
    },
  };
}

/**
 * `upcat init`: creates the site home's folders and config file (never overwriting an existing
 * one) and brings the database schema up to date. Safe to run any number of times.
 */
export async function initSite(
  options: OpenOptions = {},
): Promise<{ config: SiteConfig; createdConfig: boolean }> {
  const config = loadConfig(options);
  await keepSitePrivate(config);
  for (const dir of Object.values(config.dirs)) await mkdir(dir, { recursive: true });
  const file = path.join(config.home, CONFIG_FILE);
  let createdConfig = false;
  try {
    await writeFile(file, `${JSON.stringify(defaultConfigFile(config), null, 2)}\n`, {
      flag: 'wx',
    });
    createdConfig = true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  await initSiteSigning(config);
  const site = await openSite(options);
  try {
    // The site keys, made here once per site and recorded in the database (issue 15 item 3).
    await agreeSiteKeys(site.db, config.dirs.signing);
    // Version 1 of the TUF repository (or a catch-up of an existing one).
    await site.tuf?.sync();
  } finally {
    await site.close();
  }
  return { config, createdConfig };
}

/** The starter config: the values an operator is most likely to change, written out. */
function defaultConfigFile(config: SiteConfig): Record<string, unknown> {
  return {
    site: { code: config.site.code, name: config.site.name, mode: config.site.mode },
    server: { host: config.server.host, port: config.server.port },
  };
}
