import path from 'node:path';
import type { Response, Router } from 'express';
import type { Site } from '../../app.js';
import { tufRepoDir } from '../../signing/tuf-repo.js';
import { DatabaseMetadataStore } from '../../signing/tuf-store-db.js';
import type { MetadataStore } from '../../signing/tuf-store.js';
import { errorBody } from '../middleware/errors.js';
import { sendImmutable } from '../send-immutable.js';
import { smallBlobsOf } from '../small-blobs.js';
import { MUTABLE_FILES, MutableMetadata } from '../mutable-metadata.js';

/** Version-prefixed metadata (consistent snapshots, TUF spec §5.6.1): never changes once written. */
const VERSIONED = /^[1-9][0-9]*\.(root|targets|snapshot|bins-[0-9a-f]+)\.json$/;
/** Hash-prefixed target file names (TUF spec §5.7.3): `<sha256>.<name>`. */
const HASHED_TARGET = /^([0-9a-f]{64})\.[A-Za-z0-9._~@+=-]+$/;
const SEGMENT = /^[A-Za-z0-9_~@+=-][A-Za-z0-9._~@+=-]*$/;

/**
 * `/tuf/...` (DESIGN.md §5, issue 3 item 3): the TUF repository of the catalog.
 *
 * - `timestamp.json` and `root.json`: strong ETag (content hash), `no-cache`, 304 on a matching
 *   If-None-Match; served from memory (server/mutable-metadata.ts). `upcat serve` answers them
 *   before Express routing too (server/serve.ts), since every client check asks for them.
 * - `N.<role>.json`: immutable, cacheable for a year (a mirror or CDN can keep them forever).
 * - `targets/<dir>/<sha256>.<name>`: the target's bytes from the content pool, by digest, when
 *   `isPublished` says a committed revision names them. The name cannot make a client accept
 *   other bytes: the client checks length and hashes.
 */
export function tufRoutes(
  router: Router,
  site: Pick<Site, 'config' | 'blobs'> & { metadata?: MetadataStore },
  isPublished: (sha256: string) => Promise<boolean>,
): void {
  const dir = tufRepoDir(site.config.dirs.catalog);
  const rows = site.metadata instanceof DatabaseMetadataStore ? site.metadata : undefined;
  const mutable = new MutableMetadata(rows ?? dir);
  const blobs = smallBlobsOf(site.blobs);

  router.get('/tuf/targets/*path', async (req, res, next) => {
    const segments = (req.params as { path?: string[] }).path ?? [];
    const base = segments[segments.length - 1] ?? '';
    const match = HASHED_TARGET.exec(base);
    if (match === null || !segments.every((s) => SEGMENT.test(s))) {
      res.status(404).json(errorBody('not_found', 'targets are served by hash-prefixed name'));
      return;
    }
    const sha256 = match[1] as string;
    // Only payloads a committed revision names, as /content does (issue 13 item 7): a file left
    // in the pool by a failed publish, or one no update refers to, is not served.
    if (!(await isPublished(sha256))) {
      res.status(404).json(errorBody('not_found', `no target ${base}`));
      return;
    }
    await blobs.send(req, res, next, { sha256, kind: 'payload' }, { etag: `"${sha256}"` });
  });

  router.get('/tuf/:file', async (req, res, next) => {
    const file = req.params.file;
    try {
      if (MUTABLE_FILES.has(file)) {
        mutable.serve(req, res, file);
      } else if (VERSIONED.test(file) && rows !== undefined) {
        await sendVersionedRow(res, rows, file);
      } else if (VERSIONED.test(file)) {
        sendImmutable(res, next, path.join(dir, file), undefined, 'application/json');
      } else {
        res.status(404).json(errorBody('not_found', `no TUF metadata ${file}`));
      }
    } catch (err) {
      next(err);
    }
  });
}

/** A versioned row (issue 15 item 2): immutable, so kept in memory by the store once read. */
async function sendVersionedRow(
  res: Response,
  rows: DatabaseMetadataStore,
  file: string,
): Promise<void> {
  const bytes = await rows.read(file);
  if (bytes === undefined) {
    res.status(404).json(errorBody('not_found', `no TUF metadata ${file}`));
    return;
  }
  res
    .set({
      'Content-Type': 'application/json',
      'Cache-Control': 'public, max-age=31536000, immutable',
      'X-Content-Type-Options': 'nosniff',
    })
    .send(bytes);
}
