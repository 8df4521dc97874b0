import type { Router } from 'express';
import type { Site } from '../../app.js';
import { blobExists } from '../../storage/catalog-repo.js';
import { errorBody } from '../middleware/errors.js';
import { smallBlobsOf } from '../small-blobs.js';

const CONTENT_NAME = /^([0-9a-f]{64})(\.p7s)?$/;

/**
 * `GET|HEAD /content/<sha256>` (DESIGN.md §5): payloads by content address. A name is its digest,
 * so the strong ETag is the digest and responses are cacheable forever.
 * `GET /content/<sha256>.p7s`: the payload's detached CMS signature by the site's publisher
 * certificate (DESIGN.md §3), verifiable with `openssl cms -verify` against `/pki/ca.pem`.
 */
export function contentRoutes(
  router: Router,
  site: Pick<Site, 'db' | 'blobs'>,
  isPublished: (sha256: string) => Promise<boolean> = (sha256) => blobExists(site.db, sha256),
): void {
  const blobs = smallBlobsOf(site.blobs);
  router.get('/content/:name', async (req, res, next) => {
    const match = CONTENT_NAME.exec(req.params.name.toLowerCase());
    if (match === null) {
      res
        .status(400)
        .json(errorBody('invalid_input', 'content name must be a SHA-256 digest (64 hex digits)'));
      return;
    }
    const sha256 = match[1] as string;
    // Only payloads that a committed revision names are served; an unreferenced pool file is not.
    if (!(await isPublished(sha256))) {
      res.status(404).json(errorBody('not_found', `no payload ${sha256}`));
      return;
    }
    if (match[2] !== undefined) {
      const options = { contentType: 'application/pkcs7-signature' };
      await blobs.send(req, res, next, { sha256, kind: 'signature' }, options);
      return;
    }
    // From the store: a file, the object proxied, or a redirect (storage.blobs.redirect); a
    // small file from memory (server/small-blobs.ts).
    await blobs.send(req, res, next, { sha256, kind: 'payload' }, { etag: `"${sha256}"` });
  });
}
