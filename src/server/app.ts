import express, { type Express } from 'express';
import type { Site } from '../app.js';
import { errorHandler, notFoundRoute } from './middleware/errors.js';
import { requestLog } from './middleware/request-log.js';
import { bodyDeadline } from './middleware/body.js';
import { auditSourceOfRequest } from './middleware/audit-source.js';
import { contentRoutes } from './routes/content.js';
import { healthRoutes } from './routes/health.js';
import { siteRoutes } from './routes/site.js';
import { pkiRoutes } from './routes/pki.js';
import { tufRoutes } from './routes/tuf.js';
import { clientRoutes } from './routes/clients.js';
import { syncRoutes } from './routes/sync.js';
import { statusRoutes } from './routes/status.js';
import { adminRoutes } from './routes/reports.js';
import { clientAdminRoutes } from './routes/client-admin.js';
import { tokenRoutes } from './routes/tokens.js';
import { groupRoutes } from './routes/groups.js';
import { deploymentRoutes } from './routes/deployments.js';
import { rolloutRoutes } from './routes/rollouts.js';
import { openApiRoutes } from './openapi/index.js';
import { apiDocsRoutes } from './routes/api-docs.js';
import { updatesRoutes } from './routes/updates.js';
import { updateAdminRoutes } from './routes/update-admin.js';
import { metricsRoutes } from './routes/metrics.js';
import { wuspRoutes } from './routes/wusp.js';
import { wuspContentRoutes } from './routes/wusp-content.js';
import { catalogCabRoutes } from './routes/catalog-cab.js';
import { sessionRoutes } from './routes/sessions.js';
import { userRoutes } from './routes/users.js';
import { consoleRoutes } from './routes/console.js';
import { ServerMetrics } from './metrics.js';
import { blobExists } from '../storage/catalog-repo.js';

/**
 * Builds the HTTP API from a site; every route module is a function of (router, site).
 * `metrics` is shared with the fast paths that serve.ts puts in front of the app.
 */
export function createApp(
  site: Site,
  metrics = new ServerMetrics({ syncCacheClients: () => site.syncFast.size }),
): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false); // routes set their own validators where they mean them
  app.set('query parser', 'simple');
  app.use(metrics.express());
  app.use(requestLog(site.log));
  app.use(auditSourceOfRequest);
  app.use(
    bodyDeadline({
      graceMs: site.config.server.bodyTimeoutMs,
      minBytesPerSecond: site.config.server.minBodyBytesPerSecond,
    }),
  );

  const router = express.Router();
  healthRoutes(router, site);
  siteRoutes(router, site);
  // One memory of published digests for both routes that serve blobs by digest.
  const isPublished = publishedPayloads(site);
  contentRoutes(router, site, isPublished);
  tufRoutes(router, site, isPublished);
  pkiRoutes(router, site);
  clientRoutes(router, site);
  syncRoutes(router, site);
  statusRoutes(router, site);
  adminRoutes(router, site);
  clientAdminRoutes(router, site); // clients of the admin API (issue 14)
  tokenRoutes(router, site); // tokens over HTTP (issue 14)
  groupRoutes(router, site); // groups and their members (issue 14)
  deploymentRoutes(router, site); // deployments list, change, remove (issue 14)
  rolloutRoutes(router, site); // rollouts through rings (issue 14 item 6)
  openApiRoutes(router);
  apiDocsRoutes(router); // the API reference page at /v1/docs (issue 14 item 2)
  updatesRoutes(router, site);
  updateAdminRoutes(router, site); // updates list, detail, decline (issue 14)
  metricsRoutes(router, site, metrics);
  wuspRoutes(router, site); // MS-WUSP for the Windows Update Agent (issue 12)
  wuspContentRoutes(router, site);
  catalogCabRoutes(router, site); // the signed catalog CAB for ConfigMgr and WSUS Package Publisher (issue 11)
  consoleRoutes(router); // the administrator's web console (issue 14)
  sessionRoutes(router, site); // people's login (issue 14 item 4)
  userRoutes(router, site);
  app.use(router);

  app.use(notFoundRoute);
  app.use(errorHandler(site.log));
  return app;
}

/**
 * Whether a committed revision names a payload, for `/tuf/targets` (issue 13 item 7) and
 * `/content` (payloads and their signatures). Every client
 * reading the catalog asks this for every target, so a yes is remembered: a published payload
 * stays published, and one that gc later removes from the pool is a 404 from the file system
 * anyway. A no is asked again (the publish may commit a moment later). Bounded: the set starts
 * over past 100,000 digests.
 */
function publishedPayloads(site: Site): (sha256: string) => Promise<boolean> {
  const known = new Set<string>();
  // The first question reads the published digests in one statement (up to half the bound): a
  // client walking the catalog just after a start asked one query per blob (issue 16).
  let loaded: Promise<void> | undefined;
  return async (sha256) => {
    if (known.has(sha256)) return true;
    loaded ??= (
      site.db('blobs').select('sha256').limit(50_000) as Promise<Array<{ sha256: string }>>
    )
      .then((rows) => rows.forEach((r) => known.add(r.sha256)))
      .catch(() => undefined); // then each digest is asked on its own, below
    await loaded;
    if (known.has(sha256)) return true;
    const published = await blobExists(site.db, sha256);
    if (published) {
      if (known.size >= 100_000) known.clear();
      known.add(sha256);
    }
    return published;
  };
}
