import { X509Certificate } from 'node:crypto';
import type { NextFunction, Request, Response, Router } from 'express';
import type { Site } from '../../app.js';
import { CatalogCabCache } from '../../windows/sdp/catalog-cab.js';
import { errorBody } from '../middleware/errors.js';

/**
 * The site's catalog for ConfigMgr's "third-party software update catalogs" and WSUS Package
 * Publisher (issue 11 item 9; docs/WINDOWS.md):
 *  - `GET|HEAD /catalog/v1/upcat.cab`: the signed SystemsManagementCatalog CAB of the current
 *    catalog version, at a URL that never changes; strong ETag (the cabinet's SHA-256) and 304,
 *    `Cache-Control: no-cache` so consumers revalidate instead of keeping a stale catalog;
 *  - `GET /catalog/v1/publisher.cer`: the certificate that signs it, DER, to approve or trust.
 * The CAB is built once per catalog version (src/windows/sdp/catalog-cab.ts), not per request.
 */
export function catalogCabRoutes(
  router: Router,
  site: Pick<Site, 'db' | 'config' | 'signing' | 'log'>,
): void {
  let cache: CatalogCabCache | undefined;
  const noKeys = (res: Response) =>
    res
      .status(404)
      .json(errorBody('not_found', 'this site has no publisher yet (run "upcat init")'));

  router.get('/catalog/v1/upcat.cab', async (_req: Request, res: Response, next: NextFunction) => {
    const signing = site.signing;
    if (signing === undefined) return void noKeys(res);
    cache ??= new CatalogCabCache({ db: site.db, config: site.config, signing, log: site.log });
    const cab = await cache.current();
    res.set({
      'Content-Type': 'application/vnd.ms-cab-compressed',
      'Content-Disposition': 'attachment; filename="upcat.cab"',
      'Cache-Control': 'no-cache',
      'X-Content-Type-Options': 'nosniff',
      'X-Upcat-Catalog-Version': String(cab.catalogVersion),
      ETag: cab.etag,
    });
    // `send` answers If-None-Match with 304 and HEAD without a body, from the ETag set above.
    res.sendFile(
      cab.file,
      { etag: false, lastModified: true, cacheControl: false, acceptRanges: true },
      (err?: Error) => {
        if (err !== undefined && !res.headersSent) next(err);
      },
    );
  });

  router.get('/catalog/v1/publisher.cer', (_req: Request, res: Response) => {
    const signing = site.signing;
    if (signing === undefined) return void noKeys(res);
    res
      .set({
        'Content-Type': 'application/pkix-cert',
        'Content-Disposition': 'attachment; filename="publisher.cer"',
        'Cache-Control': 'public, max-age=3600',
      })
      .send(new X509Certificate(signing.publisher.certificatePem).raw);
  });
}
