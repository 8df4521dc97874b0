import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Site } from '../app.js';
import { createApp } from './app.js';

export interface RunningServer {
  server: http.Server;
  url: string;
  /** Stops accepting connections, lets requests in flight finish (up to the timeout), closes. */
  close(): Promise<void>;
}

export async function startServer(
  site: Site,
  opts: { host: string; port: number },
): Promise<RunningServer> {
  // Catch the signed catalog up with the database (a crash may have left it behind), then keep
  // it fresh: an idle site re-signs timestamp/snapshot before they expire (issue 3 item 3).
  await site.tuf?.sync();
  const refresher = startRefresher(site);
  const app = createApp(site);
  const server = http.createServer(app);
  // Slow or stalled clients must not hold sockets forever.
  server.headersTimeout = 30_000;
  server.requestTimeout = 0; // payload downloads may legitimately take long; idle sockets time out below
  server.keepAliveTimeout = 5_000;
  server.timeout = 120_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${address.port}`;

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= new Promise<void>((resolve) => {
      const timer = setTimeout(
        () => server.closeAllConnections(),
        site.config.server.shutdownTimeoutMs,
      );
      timer.unref();
      if (refresher !== undefined) clearInterval(refresher);
      server.close(() => {
        clearTimeout(timer);
        resolve();
      });
      server.closeIdleConnections();
    });
    return closing;
  };
  return { server, url, close };
}

function startRefresher(site: Site): NodeJS.Timeout | undefined {
  const tuf = site.tuf;
  if (tuf === undefined) return undefined;
  const timer = setInterval(() => {
    tuf.refresh().catch((err: unknown) => site.log.error({ err }, 'TUF refresh failed'));
  }, site.config.signing.refreshIntervalSeconds * 1000);
  timer.unref();
  return timer;
}
