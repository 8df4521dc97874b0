import type { SiteConfig } from '../config/schema.js';
import type { Db } from '../storage/db.js';
import { tufRepoDir } from './tuf-repo.js';
import { DatabaseMetadataStore } from './tuf-store-db.js';
import { FileMetadataStore, type MetadataStore } from './tuf-store.js';

/**
 * The site's TUF metadata store, as `storage.metadata` says (issue 15 item 2): `files` unless
 * the site asks for `database`, on either engine. A one-node PostgreSQL site is as well served by
 * files, and a site that already has catalog/tuf/ must not silently start from an empty table;
 * several nodes set `database` (after `upcat migrate-storage` for an existing site).
 */
export function openMetadataStore(config: SiteConfig, db: Db): MetadataStore {
  return config.storage.metadata === 'database'
    ? new DatabaseMetadataStore(db, config.server.changePollMs)
    : new FileMetadataStore(tufRepoDir(config.dirs.catalog));
}
