import type { SiteConfig } from '../config/schema.js';
import type { Db } from '../storage/db.js';
import { tufRepoDir } from './tuf-repo.js';
import { DatabaseMetadataStore } from './tuf-store-db.js';
import { FileMetadataStore, type MetadataStore } from './tuf-store.js';

/**
 * The site's TUF metadata store, as `storage.metadata` says (issue 15 item 2). Absent, it is
 * `files` for now on both engines: moving a PostgreSQL site's default to `database` waits until
 * the tools that still read catalog/tuf/ directly (verify's trusted root, tuf-jump, gc of
 * superseded metadata, backup) go through the store.
 */
export function openMetadataStore(config: SiteConfig, db: Db): MetadataStore {
  return config.storage.metadata === 'database'
    ? new DatabaseMetadataStore(db, config.server.changePollMs)
    : new FileMetadataStore(tufRepoDir(config.dirs.catalog));
}
