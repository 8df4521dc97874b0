import cluster from 'node:cluster';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { openSite, type Site } from '../../app.js';
import { invalidInput } from '../../errors.js';
import { startServer } from '../../server/serve.js';
import { runWorkers, workerRole, type WorkerRole } from '../../server/workers.js';
import {
  DEFAULT_SERVICE_USER,
  installServerService,
  serverUnit,
} from '../../server/service-unit.js';
import { loadConfig } from '../../config/load.js';
import { activePublisherInfo } from '../../signing/publisher-import.js';
import { plainHttpWarning } from '../../windows/gpo/transport.js';
import { globalOptions } from '../context.js';

export interface ServeOptions {
  port?: string;
  host?: string;
  httpsPort?: string;
  workers?: string;
}

export function registerServe(program: Command): void {
  const serve = program.command('serve');
  serve
    .description('serve the catalog, payloads and the API over HTTP (default port 8530)')
    .option('--port <port>', 'TCP port (default from config: 8530)')
    .option('--host <host>', 'address to listen on (default from config: 0.0.0.0)')
    .option(
      '--https-port <port>',
      'mutual-TLS port in native mode or with server.https (default from config: 8531)',
    )
    .option(
      '--workers <n>',
      'server processes on this node, 1-64 (default from config: 1; one per core carries the most syncs)',
    )
    .action(async (opts: ServeOptions, cmd: Command) => {
      const g = globalOptions(cmd);
      if (!cluster.isWorker) {
        const config = loadConfig({ home: g.home });
        const workers =
          opts.workers === undefined ? config.server.workers : parseWorkers(opts.workers);
        if (workers > 1) {
          // This process only starts, restarts and stops the workers (server/workers.ts).
          process.exitCode = await runWorkers({
            workers,
            shutdownTimeoutMs: config.server.shutdownTimeoutMs,
            say: (line) => process.stderr.write(`upcat: ${line}\n`),
          });
          return;
        }
      }
      try {
        const site = await openSite({
          home: g.home,
          ...(g.verbose === true ? { logLevel: 'debug' } : {}),
        });
        await serveUntilSignal(site, opts, workerRole());
      } finally {
        // A worker lets go of its primary, stopped or failed, so that it can exit.
        if (cluster.isWorker) cluster.worker?.disconnect();
      }
    });
  registerInstallService(serve);
}

/**
 * `upcat serve install-service` (issue 13 item 6): the server as a hardened systemd service
 * (src/server/service-unit.ts); `--dry-run` prints the unit. Windows: docs/OPERATIONS.md.
 */
function registerInstallService(serve: Command): void {
  serve
    .command('install-service')
    .description(
      'write, enable and start a hardened systemd unit that runs this site as a service under a dedicated user (root only; Windows: docs/OPERATIONS.md)',
    )
    .option(
      '--user <name>',
      'the system user the service runs as (made when missing)',
      DEFAULT_SERVICE_USER,
    )
    .option('--dry-run', 'print the unit instead of installing it')
    .action(async (opts: { user: string; dryRun?: boolean }, cmd: Command) => {
      if (!/^[a-z_][a-z0-9_-]{0,31}$/.test(opts.user))
        throw invalidInput(`--user: "${opts.user}" is not a user name`);
      const config = loadConfig({ home: globalOptions(cmd).home });
      const unit = serverUnit({
        node: process.execPath,
        cli: path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../bin/upcat.js'),
        config,
        user: opts.user,
      });
      if (opts.dryRun === true) {
        process.stdout.write(unit);
        return;
      }
      const file = await installServerService(unit, {
        user: opts.user,
        home: config.home,
        dataDirs: Object.values(config.dirs),
      });
      process.stdout.write(`installed and started ${file} (user ${opts.user})\n`);
    });
}

/** Runs the server until SIGTERM or SIGINT, then drains requests in flight and exits. */
export async function serveUntilSignal(
  site: Site,
  opts: ServeOptions,
  worker?: WorkerRole,
): Promise<void> {
  const port = opts.port === undefined ? site.config.server.port : parsePort(opts.port);
  const host = opts.host ?? site.config.server.host;
  // One of several processes: changes made through the others close this one's caches at once.
  if (worker !== undefined) site.changes.shareWith(worker.board);
  const running = await startServer(site, {
    host,
    port,
    ...(opts.httpsPort === undefined ? {} : { httpsPort: parsePort(opts.httpsPort) }),
    ...(worker === undefined ? {} : { worker }),
  }).catch(async (err: unknown) => {
    // Nothing may keep the process alive after it said why it cannot serve.
    await site.close().catch(() => undefined);
    throw err;
  });
  const urls = [running.url, ...(running.https === undefined ? [] : [running.https.url])];
  site.log.info({ urls, site: site.config.site.code }, 'serving');
  // Issue 12 item 6: Windows Update Agents over plain HTTP only (WSUSpect).
  const plainHttp = plainHttpWarning(site.config);
  if (plainHttp !== undefined) site.log.warn({ security: 'wsuspect' }, plainHttp);
  // Issue 11 item 7: a publisher certificate close to expiry (or past it) is said at start.
  const publisher = await activePublisherInfo(site.config.dirs.signing).catch(() => undefined);
  // Said once for the node: by the only process, or by the first worker (the primary then says
  // where the workers serve).
  const saysForNode = worker === undefined || worker.slot === 0;
  if (publisher?.warning !== undefined) {
    site.log.warn({ publisher: publisher.thumbprintSha1 }, publisher.warning);
    if (saysForNode) process.stderr.write(`upcat: warning: ${publisher.warning}\n`);
  }
  if (worker === undefined)
    process.stderr.write(
      `upcat: serving site ${site.config.site.code} on ${urls.join(' and ')} (Ctrl-C to stop)\n`,
    );
  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (reason: string): void => {
      // A worker is told by its primary and, on Ctrl-C or from systemd, by the signal as well.
      if (stopping) return;
      stopping = true;
      site.log.info({ reason }, 'shutting down: finishing requests in flight');
      void running
        .close()
        .then(() => site.close())
        .then(resolve);
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
    if (worker !== undefined) {
      worker.onStop(() => stop('asked by the primary process'));
      worker.listening(urls, site.config.site.code);
    }
  });
  worker?.board.close();
}

function parseWorkers(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > 64)
    throw invalidInput(`--workers: "${value}" is not a number of processes from 1 to 64`);
  return Number(value);
}

function parsePort(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) > 65535)
    throw invalidInput(`--port: "${value}" is not a TCP port`);
  return Number(value);
}
