import type { SiteConfig } from '../../config/schema.js';
import type { BlobPool } from './pool.js';
import type { BlobStore } from './store.js';

/**
 * The blob store `storage.blobs` names: the site's file-system pool itself (`fs`, the default),
 * or an S3 bucket that stages through that pool's temporary area (`s3`). The S3 adapter is
 * loaded only when asked for: the AWS SDK takes ~160 ms to load, which every command that opens
 * a file-system site would otherwise pay.
 */
export async function openBlobStore(config: SiteConfig, local: BlobPool): Promise<BlobStore> {
  const blobs = config.storage.blobs;
  if (blobs.type !== 's3') return local;
  const { S3BlobStore } = await import('./s3-store.js');
  return new S3BlobStore(blobs, local);
}
