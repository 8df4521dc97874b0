import type { Router } from 'express';
import type { Site } from '../../app.js';
import { blobExists } from '../../storage/catalog-repo.js';
import { errorBody } from '../middleware/errors.js';

const SHA256 = /^[0-9a-f]{64}$/;

/**
 * `GET|HEAD /content/<sha256>` (DESIGN.md §5): payloads by content address. A name is its digest,
 * so the strong ETag is the digest and responses are cacheable forever. Range requests (206, 416)
 * and conditional GETs (304) are answered by `send`, which honours the ETag set here.
 */
export function contentRoutes(router: Router, site: Pick<Site, 'db' | 'pool'>): void {
  router.get('/content/:sha256', async (req, res, next) => {
    const sha256 = req.params.sha256.toLowerCase();
    if (!SHA256.test(sha256)) {
      res
        .status(400)
        .json(errorBody('invalid_input', 'content name must be a SHA-256 digest (64 hex digits)'));
      return;
    }
    // Only payloads that a committed revision names are served; an unreferenced pool file is not.
    if (!(await blobExists(site.db, sha256))) {
      res.status(404).json(errorBody('not_found', `no payload ${sha256}`));
      return;
    }
    res.set({
      ETag: `"${sha256}"`,
      'Content-Type': 'application/octet-stream',
      'X-Content-Type-Options': 'nosniff',
    });
    res.sendFile(
      site.pool.pathOf(sha256),
      {
        maxAge: '365d',
        immutable: true,
        lastModified: false,
        acceptRanges: true,
        dotfiles: 'allow',
      },
      (err?: Error & { status?: number; headers?: Record<string, string> }) => {
        if (err === undefined || res.headersSent) return;
        if (err.status === 416) {
          res
            .status(416)
            .set(err.headers ?? {})
            .end();
        } else if (err.status === 404) {
          res
            .status(404)
            .json(errorBody('not_found', `payload ${sha256} is missing from the pool`));
        } else {
          next(err);
        }
      },
    );
  });
}
