import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Site } from '../app.js';
import { loadServerTls } from '../signing/server-tls.js';
import { createApp } from './app.js';
import { ServerMetrics } from './metrics.js';
import { metadataAnswerer } from './metadata-answer.js';
import { MetadataFront } from './metadata-front.js';
import { MutableMetadata, withMetadataFastPath } from './mutable-metadata.js';
import { TufRefresher } from '../signing/tuf-refresh-lease.js';
import { startMaintenance } from '../ops/maintenance.js';
import { warmWuspComputers } from '../windows/wusp/index.js';
import { startRolloutEngine } from '../site/rollouts-engine.js';
import { agreeSiteKeys } from '../sync/site-keys.js';
import { mergeExpositions, type WorkerExposition } from './metrics-merge.js';
import { syncAnswerer } from './sync-answer.js';
import type { WorkerRole } from './workers.js';

export interface RunningServer {
  server: http.Server;
  url: string;
  /** The mutual-TLS listener (issue 5 item 6): native mode, or `server.https` in mixed mode. */
  https?: { server: https.Server; url: string };
  /** Stops accepting connections, lets requests in flight finish (up to the timeout), closes. */
  close(): Promise<void>;
}

export async function startServer(
  site: Site,
  opts: { host: string; port: number; httpsPort?: number; worker?: WorkerRole },
): Promise<RunningServer> {
  // Every node signs policy and seals anchors with the site's keys, or refuses to start.
  await agreeSiteKeys(site.db, site.config.dirs.signing);
  // Catch the signed catalog up with the database (a crash may have left it behind), then keep
  // it fresh: an idle site re-signs timestamp/snapshot before they expire (issue 3 item 3).
  await site.tuf?.sync();
  const refresher = startRefresher(site);
  // Automatic maintenance (issue 13 item 3): one node at a time, under a lease row.
  const maintenance = startMaintenance(site);
  // Rollouts advance from ring to ring (issue 14 item 6): one node at a time, under a lease.
  const rolloutEngine = startRolloutEngine(site, site.config.rollouts.checkIntervalSeconds);
  // Patch day: when the catalog moves, the group sets' policies are computed before their
  // clients ask (policy-cache.ts prewarm), so the sync fast path answers the first of them too.
  site.changes.onChange(() =>
    setImmediate(() => {
      const version = site.changes.current()?.catalogVersion;
      if (version === undefined) return;
      site.sync.policies
        .prewarm(site.db, version, () => site.syncFast.groupSets())
        .catch((err: unknown) => site.log.warn({ err }, 'policies not computed ahead'));
    }),
  );
  // The sync fast path trusts only state the watcher has read; start it before taking requests.
  await site.changes.start(site.config.server.changePollMs);
  // In the background: requests are served (through the database) while it loads.
  site.sync
    .ready()
    .catch((err: unknown) =>
      site.log.warn({ err }, 'sync keys not loaded ahead of the first sync'),
    );
  site.syncFast
    .warm(site.db, site.log)
    .catch((err: unknown) => site.log.warn({ err }, 'sync fast path not warmed'));
  warmWuspComputers(site).catch((err: unknown) =>
    site.log.warn({ err }, 'Windows computers not read into memory'),
  );
  // One set of metrics for Express and the fast paths in front of it: the fast paths report
  // under the route templates Express would have matched.
  const metrics = new ServerMetrics({ syncCacheClients: () => site.syncFast.size });
  const worker = opts.worker;
  if (worker !== undefined) {
    // One scrape answers for every worker of the node, whichever took it.
    worker.answerMetrics(async () => (await metrics.text()).body);
    metrics.gatherWith(async () => {
      const own = async (): Promise<WorkerExposition[]> => [
        { worker: worker.slot, text: (await metrics.text()).body },
      ];
      // A primary that does not answer (stopping): this worker's own, labelled as usual.
      return mergeExpositions(await worker.gatherMetrics().catch(own));
    });
  }
  // Uploads are hashed off the event loop, which stays free for the network and other requests.
  site.pool.hashOffThread();
  const express = createApp(site, metrics);
  const metadata = new MutableMetadata(site.metadata);
  const app = withMetadataFastPath(
    metadata,
    (req, res) => {
      const started = performance.now();
      if (site.syncFast.handle(req, res)) metrics.answeredEarly('/v1/sync', req, res, started);
      else express(req, res);
    },
    (req, res, started) => metrics.answeredEarly('/tuf/:file', req, res, started),
  );
  const server = http.createServer(app);
  // Up-to-date clients' checks and syncs answered before node:http (metadata-front.ts); plain
  // HTTP only.
  const front = site.config.server.metadataFront
    ? new MetadataFront(
        server,
        [metadataAnswerer(metadata), syncAnswerer(site.syncFast)],
        (method, route, code, started) => metrics.answeredOnSocket(method, route, code, started),
      )
    : undefined;
  const stopBackground = async (): Promise<void> => {
    if (refresher !== undefined) clearInterval(refresher.timer);
    await refresher?.lease.release().catch(() => undefined);
    maintenance.stop();
    rolloutEngine.stop();
    site.changes.stop();
  };
  let secure: RunningServer['https'];
  let url: string;
  try {
    url = await listen(server, opts.port, opts.host, 'http');
    secure = await listenSecure(site, app, opts);
  } catch (err) {
    // A port in use, say: what started above must not keep the process alive.
    front?.destroyAll();
    server.close();
    await stopBackground();
    throw err;
  }

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      await stopBackground();
      const timeoutMs = site.config.server.shutdownTimeoutMs;
      await Promise.all([
        closeGracefully(server, timeoutMs, front),
        ...(secure === undefined ? [] : [closeGracefully(secure.server, timeoutMs)]),
      ]);
    })();
    return closing;
  };
  return { server, url, ...(secure === undefined ? {} : { https: secure }), close };
}

/** The mutual-TLS listener, in native mode or with server.https; none otherwise. */
async function listenSecure(
  site: Site,
  app: http.RequestListener,
  opts: { host: string; httpsPort?: number },
): Promise<RunningServer['https']> {
  if (site.config.site.mode === 'native' || site.config.server.https) {
    // Client certificates are asked for, verified against the site CA, and checked per request
    // (client-auth.ts): a client without one can still read the public catalog and register.
    const tls = await loadServerTls(site.config);
    const tlsServer = https.createServer(
      { ...tls, requestCert: true, rejectUnauthorized: false },
      app,
    );
    const httpsPort = opts.httpsPort ?? site.config.server.httpsPort;
    const secure = {
      server: tlsServer,
      url: await listen(tlsServer, httpsPort, opts.host, 'https'),
    };
    // GET /v1/site publishes the port actually listened on (a --https-port or port 0 override).
    site.config.server.httpsPort = (tlsServer.address() as AddressInfo).port;
    return secure;
  }
  return undefined;
}

async function listen(
  server: http.Server,
  port: number,
  hostName: string,
  scheme: 'http' | 'https',
): Promise<string> {
  // Slow or stalled clients must not hold sockets forever.
  server.headersTimeout = 30_000;
  server.requestTimeout = 0; // payload downloads may legitimately take long; idle sockets time out below
  server.keepAliveTimeout = 5_000;
  idleTimeoutOnClients(server, IDLE_SOCKET_MS);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, hostName, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `${scheme}://${host === '0.0.0.0' ? '127.0.0.1' : host}:${address.port}`;
}

/** A socket on which nothing moves for this long is closed: a stalled reader, say. */
const IDLE_SOCKET_MS = 120_000;

/**
 * The idle timeout is for clients that stall, not for the server's own work: while a request is
 * being handled (a publish waiting its turn behind others at the catalog writer, under load) the
 * socket is quiet because the server has not answered yet, and closing it then would drop an
 * answer the client is owed (a publish that succeeded, reported to nobody). So a timeout that
 * comes while a request is handled and its response has not started only re-arms the timer;
 * once the response has started (a client that stops reading a download), or between requests,
 * it closes the socket. Slow senders have their own bound (middleware/body.ts, 408).
 */
export function idleTimeoutOnClients(server: http.Server, idleMs: number): void {
  server.timeout = idleMs;
  // Which answer each socket is on: set per request, read only when a socket times out. (It
  // replaced turning the timer off at each request and on again at its response: two timer
  // moves, a bound function and a closure on every request, several per cent of a 304.)
  const answering = new WeakMap<Socket, http.ServerResponse>();
  server.prependListener('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    answering.set(req.socket, res);
  });
  // With a 'timeout' listener the server leaves the socket to it (node:_http_server).
  server.on('timeout', (socket: Socket) => {
    const res = answering.get(socket);
    if (res !== undefined && !res.headersSent && !res.writableEnded) socket.setTimeout(idleMs);
    else socket.destroy();
  });
}

/** Stops accepting connections, lets requests in flight finish (up to the timeout), closes. */
function closeGracefully(
  server: http.Server,
  timeoutMs: number,
  front?: MetadataFront,
): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      server.closeAllConnections();
      front?.destroyAll();
    }, timeoutMs);
    timer.unref();
    server.close(() => {
      clearTimeout(timer);
      front?.destroyAll();
      resolve();
    });
    server.closeIdleConnections();
    // node:http does not know the connections the front holds: they would keep close() waiting.
    front?.close();
  });
}

function startRefresher(site: Site): { timer: NodeJS.Timeout; lease: TufRefresher } | undefined {
  const tuf = site.tuf;
  if (tuf === undefined) return undefined;
  const seconds = site.config.signing.refreshIntervalSeconds;
  // One node re-signs, under the tuf-refresh lease (issue 15 item 2); the others only serve.
  const lease = new TufRefresher(site.db, () => tuf.refresh(), seconds);
  const timer = setInterval(() => {
    lease.tick().catch((err: unknown) => site.log.error({ err }, 'TUF refresh failed'));
  }, seconds * 1000);
  timer.unref();
  return { timer, lease };
}
