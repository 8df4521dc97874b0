import type { Router } from 'express';
import type { Site } from '../../app.js';
import { siteWuspService } from '../../windows/wusp/index.js';
import { errorBody } from '../middleware/errors.js';
import { sendImmutable } from '../send-immutable.js';
import { sendBlob } from '../send-blob.js';

const NAME = /^([0-9A-Fa-f]{40})\.cab$/;

/**
 * `GET|HEAD /Content/<xx>/<SHA-1>.cab` ([MS-WUSP] 2.2.2.5): the payloads as Windows Update Agents
 * download them (wrapped in a signed cabinet, windows/wusp/content.ts), with HEAD and single
 * ranges answered 206, as BITS needs. The name is the SHA-1 of the bytes, so the URL never
 * changes meaning and the answer is cacheable forever.
 */
export function wuspContentRoutes(router: Router, site: Site): void {
  router.get('/Content/:dir/:file', async (req, res, next) => {
    const match = NAME.exec(req.params.file);
    const sha1 = match?.[1]?.toLowerCase();
    if (sha1 === undefined || req.params.dir.toLowerCase() !== sha1.slice(-2)) {
      res.status(404).json(errorBody('not_found', 'no such content'));
      return;
    }
    const wusp = await siteWuspService(site);
    const file = await wusp.content.bySha1(sha1);
    if (file === undefined) {
      res.status(404).json(errorBody('not_found', `no content ${sha1}`));
      return;
    }
    const type = 'application/vnd.ms-cab-compressed';
    if (site.blobs === site.pool) {
      sendImmutable(res, next, file.path, `"${sha1}"`, type);
      return;
    }
    // On an object store the wrapped file is a blob too (windows/wusp/content.ts): any node
    // serves it, proxied or redirected like /content.
    await sendBlob(
      req,
      res,
      next,
      site.blobs,
      { sha256: file.sha256, kind: 'payload' },
      { etag: `"${sha1}"`, contentType: type },
    );
  });
}
