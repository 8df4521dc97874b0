import type { SiteConfig } from '../../config/schema.js';
import type { BlobPool } from './pool.js';
import { S3BlobStore } from './s3-store.js';
import type { BlobStore } from './store.js';

/**
 * The blob store `storage.blobs` names: the site's file-system pool itself (`fs`, the default),
 * or an S3 bucket that stages through that pool's temporary area (`s3`).
 */
export function openBlobStore(config: SiteConfig, local: BlobPool): BlobStore {
  const blobs = config.storage.blobs;
  return blobs.type === 's3' ? new S3BlobStore(blobs, local) : local;
}
