import type { Command } from 'commander';
import { openSite, type Site } from '../../app.js';
import { invalidInput } from '../../errors.js';
import { startServer } from '../../server/serve.js';
import { activePublisherInfo } from '../../signing/publisher-import.js';
import { plainHttpWarning } from '../../windows/gpo/transport.js';
import { globalOptions } from '../context.js';

export interface ServeOptions {
  port?: string;
  host?: string;
  httpsPort?: string;
}

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('serve the catalog, payloads and the API over HTTP (default port 8530)')
    .option('--port <port>', 'TCP port (default from config: 8530)')
    .option('--host <host>', 'address to listen on (default from config: 0.0.0.0)')
    .option(
      '--https-port <port>',
      'mutual-TLS port in native mode or with server.https (default from config: 8531)',
    )
    .action(async (opts: ServeOptions, cmd: Command) => {
      const g = globalOptions(cmd);
      const site = await openSite({
        home: g.home,
        ...(g.verbose === true ? { logLevel: 'debug' } : {}),
      });
      await serveUntilSignal(site, opts);
    });
}

/** Runs the server until SIGTERM or SIGINT, then drains requests in flight and exits. */
export async function serveUntilSignal(site: Site, opts: ServeOptions): Promise<void> {
  const port = opts.port === undefined ? site.config.server.port : parsePort(opts.port);
  const host = opts.host ?? site.config.server.host;
  const running = await startServer(site, {
    host,
    port,
    ...(opts.httpsPort === undefined ? {} : { httpsPort: parsePort(opts.httpsPort) }),
  });
  const urls = [running.url, ...(running.https === undefined ? [] : [running.https.url])];
  site.log.info({ urls, site: site.config.site.code }, 'serving');
  // Issue 12 item 6: Windows Update Agents over plain HTTP only (WSUSpect).
  const plainHttp = plainHttpWarning(site.config);
  if (plainHttp !== undefined) site.log.warn({ security: 'wsuspect' }, plainHttp);
  // Issue 11 item 7: a publisher certificate close to expiry (or past it) is said at start.
  const publisher = await activePublisherInfo(site.config.dirs.signing).catch(() => undefined);
  if (publisher?.warning !== undefined) {
    site.log.warn({ publisher: publisher.thumbprintSha1 }, publisher.warning);
    process.stderr.write(`upcat: warning: ${publisher.warning}\n`);
  }
  process.stderr.write(
    `upcat: serving site ${site.config.site.code} on ${urls.join(' and ')} (Ctrl-C to stop)\n`,
  );
  await new Promise<void>((resolve) => {
    const stop = (signal: NodeJS.Signals): void => {
      site.log.info({ signal }, 'shutting down: finishing requests in flight');
      void running
        .close()
        .then(() => site.close())
        .then(resolve);
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
}

function parsePort(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) > 65535)
    throw invalidInput(`--port: "${value}" is not a TCP port`);
  return Number(value);
}
