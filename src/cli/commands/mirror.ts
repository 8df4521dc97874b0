import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { invalidInput, UpcatError } from '../../errors.js';
import { createLogger } from '../../log.js';
import { Mirror } from '../../mirror/mirror.js';
import { globalOptions, output } from '../context.js';

interface MirrorCliOptions {
  upstream: string;
  root?: string;
  port: string;
  host: string;
  cacheBytes: string;
  refreshSeconds: string;
  prefetch?: boolean;
  json?: boolean;
}

const UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/**
 * `upcat mirror` (issue 15 item 5): a branch-office mirror, WSUS's replica downstream server.
 * Agents point at it as at a site (docs/OPERATIONS.md, "Branch-office mirrors").
 */
export function registerMirror(program: Command): void {
  program
    .command('mirror')
    .description(
      'serve a read-only, TUF-verified copy of an upstream site catalog and payloads to endpoints nearby, passing the client API through',
    )
    .requiredOption('--upstream <url>', 'the upstream site, e.g. http://upcat.example.com:8530')
    .option(
      '--root <root.json>',
      "the upstream's trusted root metadata (default: its 1.root.json, trusted on first use)",
    )
    .option('--port <port>', 'TCP port', '8530')
    .option('--host <host>', 'address to listen on', '0.0.0.0')
    .option('--cache-bytes <n>', 'payload cache budget (suffix K, M, G or T allowed)', '10G')
    .option('--refresh-seconds <s>', 'how often the metadata is refreshed from the upstream', '60')
    .option('--prefetch', 'fetch every payload of the catalog ahead of requests, within the budget')
    .option('--json', 'print the start line as JSON (url, trust, versions served)')
    .action(async (opts: MirrorCliOptions, cmd: Command) => {
      const g = globalOptions(cmd);
      const home = path.resolve(g.home ?? process.env['UPCAT_HOME'] ?? '.');
      const mirror = await Mirror.open({
        upstream: upstreamOf(opts.upstream),
        home,
        ...(opts.root === undefined ? {} : { root: await readRoot(opts.root) }),
        host: opts.host,
        port: portOf(opts.port),
        cacheBytes: bytesOf(opts.cacheBytes),
        refreshMs: secondsOf(opts.refreshSeconds) * 1000,
        prefetch: opts.prefetch === true,
        log: createLogger(g.verbose === true ? 'debug' : 'info'),
      });
      const url = await mirror.start();
      const status = mirror.status();
      output(opts.json, { url, ...status }, () =>
        [
          `mirroring ${status.upstream} on ${url} (Ctrl-C to stop)`,
          `trust: ${status.trust}; timestamp ${status.served.timestampVersion}, ${status.served.targets} targets`,
          ...(status.lastError === undefined ? [] : [`warning: ${status.lastError}`]),
        ].join('\n'),
      );
      process.stderr.write(`upcat: mirroring ${status.upstream} on ${url}\n`);
      await new Promise<void>((resolve) => {
        const stop = (): void => void mirror.close().then(resolve);
        process.once('SIGTERM', stop);
        process.once('SIGINT', stop);
      });
    });
}

function upstreamOf(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw invalidInput(`--upstream: "${raw}" is not a URL such as http://upcat.example.com:8530`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw invalidInput(`--upstream: "${raw}" must be an http or https URL`);
  return url.toString().replace(/\/+$/, '');
}

async function readRoot(file: string): Promise<Buffer> {
  return readFile(file).catch((err: unknown) => {
    throw new UpcatError('invalid_input', `--root: cannot read ${file}: ${(err as Error).message}`);
  });
}

function portOf(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) > 65535)
    throw invalidInput(`--port: "${value}" is not a TCP port`);
  return Number(value);
}

function bytesOf(value: string): number {
  const m = /^(\d+)([kmgt]?)i?b?$/i.exec(value.trim());
  const n = m === null ? NaN : Number(m[1]) * (UNITS[(m[2] ?? '').toLowerCase()] ?? NaN);
  if (!Number.isSafeInteger(n) || n <= 0)
    throw invalidInput(`--cache-bytes: "${value}" is not a size such as 50G or 1073741824`);
  return n;
}

function secondsOf(value: string): number {
  const n = Number(value);
  if (!/^\d+(\.\d+)?$/.test(value) || n <= 0 || n > 86_400)
    throw invalidInput(`--refresh-seconds: "${value}" is not a number of seconds (0 < s <= 86400)`);
  return n;
}
