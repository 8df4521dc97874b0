import { mkdir } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Logger } from '../log.js';
import { passThrough } from './pass-through.js';
import { PayloadCache } from './payload-cache.js';
import { PayloadFetcher } from './payload-fetch.js';
import { MAX_SIGNATURE_BYTES, mirrorApp } from './routes.js';
import { TufMirror, type ServedState } from './tuf-mirror.js';

export interface MirrorOptions {
  /** The upstream site's base URL (http or https). */
  upstream: string;
  /** The mirror's home: trusted and served metadata, the payload cache, kept answers. */
  home: string;
  /** A pinned root.json; without it trust starts from the upstream's 1.root.json (first use). */
  root?: Buffer;
  host: string;
  port: number;
  cacheBytes: number;
  refreshMs: number;
  /** Fetch every target of the catalog ahead of requests, while it fits the budget. */
  prefetch: boolean;
  log: Logger;
}

export interface MirrorStatus {
  upstream: string;
  trust: 'pinned' | 'kept' | 'first use';
  served: Omit<ServedState, 'targets' | 'bins' | 'timestampSha256'> & { targets: number };
  refreshes: number;
  lastRefresh?: string;
  lastError?: string;
  cache: { files: number; bytes: number; budget: number; fetching: number };
}

/** The client API's request bodies (registration, status messages) stay well under this. */
const MAX_BODY_BYTES = 16 * 1024 * 1024;
const UPSTREAM_TIMEOUT_MS = 60_000;

/**
 * `upcat mirror` (issue 15 item 5, WSUS's replica downstream server): composes the verified TUF
 * copy, the payload cache and the pass-through, refreshes on an interval, and serves HTTP.
 */
export class Mirror {
  private refreshes = 0;
  private lastRefresh: string | undefined;
  private lastError: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private server: Server | undefined;

  private constructor(
    private readonly opts: MirrorOptions,
    private readonly tuf: TufMirror,
    private readonly cache: PayloadCache,
    private readonly fetcher: PayloadFetcher,
    private readonly trust: MirrorStatus['trust'],
  ) {}

  static async open(opts: MirrorOptions): Promise<Mirror> {
    const upstream = opts.upstream.replace(/\/+$/, '');
    const cacheDir = path.join(opts.home, 'cache');
    await mkdir(cacheDir, { recursive: true, mode: 0o700 });
    await mkdir(path.join(opts.home, 'kept'), { recursive: true, mode: 0o700 });
    const tuf = new TufMirror(opts.home, upstream);
    const trust = await tuf.open(opts.root);
    const cache = new PayloadCache(cacheDir, opts.cacheBytes);
    await cache.open();
    const fetcher = new PayloadFetcher(cache, upstream, {
      idleMs: UPSTREAM_TIMEOUT_MS,
      totalMs: 6 * 60 * 60 * 1000,
    });
    return new Mirror({ ...opts, upstream }, tuf, cache, fetcher, trust);
  }

  /** Refreshes once, then listens; later refreshes run every `refreshMs`. */
  async start(): Promise<string> {
    await this.refresh();
    const app = mirrorApp({
      servedDir: this.tuf.servedDir,
      target: (sha) => this.tuf.target(sha),
      cached: (expected, upstreamPath, live) => this.fetcher.get(expected, upstreamPath, live),
      status: () => this.status(),
      passThrough: passThrough({
        upstream: new URL(this.opts.upstream),
        dir: path.join(this.opts.home, 'kept'),
        maxBodyBytes: MAX_BODY_BYTES,
        timeoutMs: UPSTREAM_TIMEOUT_MS,
        log: this.opts.log,
      }),
      log: this.opts.log,
    });
    this.server = await new Promise<Server>((resolve, reject) => {
      const s = app.listen(this.opts.port, this.opts.host, (err?: Error) =>
        err === undefined ? resolve(s) : reject(err),
      );
    });
    this.schedule();
    const { address, port } = this.server.address() as AddressInfo;
    return `http://${address.includes(':') ? `[${address}]` : address}:${port}`;
  }

  async close(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
    const server = this.server;
    if (server !== undefined)
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
  }

  status(): MirrorStatus {
    const s = this.tuf.state;
    return {
      upstream: this.opts.upstream,
      trust: this.trust,
      served: {
        rootVersion: s?.rootVersion ?? 0,
        timestampVersion: s?.timestampVersion ?? 0,
        snapshotVersion: s?.snapshotVersion ?? 0,
        expires: s?.expires ?? '',
        targets: s === undefined ? 0 : Object.keys(s.targets).length,
      },
      refreshes: this.refreshes,
      ...(this.lastRefresh === undefined ? {} : { lastRefresh: this.lastRefresh }),
      ...(this.lastError === undefined ? {} : { lastError: this.lastError }),
      cache: {
        files: this.cache.count,
        bytes: this.cache.bytes,
        budget: this.cache.budget,
        fetching: this.fetcher.fetching,
      },
    };
  }

  /** One refresh; a failure is logged and kept in the status, and the last good copy stays. */
  async refresh(): Promise<void> {
    try {
      const outcome = await this.tuf.refresh();
      this.lastRefresh = new Date().toISOString();
      this.lastError = undefined;
      if (outcome === 'updated') {
        this.opts.log.info({ timestamp: this.tuf.state?.timestampVersion }, 'mirror refreshed');
        if (this.opts.prefetch) await this.prefetch();
      }
    } catch (err) {
      this.lastError = (err as Error).message;
      this.opts.log.warn(
        { err: this.lastError },
        'mirror refresh failed: serving the last good copy',
      );
    } finally {
      this.refreshes++;
    }
  }

  /**
   * Every target (and each payload's signature) fetched ahead of requests, while it fits in the
   * budget without evicting anything: prefetching never pushes out what endpoints asked for.
   */
  private async prefetch(): Promise<void> {
    for (const [sha256, t] of Object.entries(this.tuf.state?.targets ?? {})) {
      if (this.cache.has(sha256) || this.cache.bytes + t.length > this.cache.budget) continue;
      const dir = path.posix.dirname(t.path);
      const hashed = `${dir === '.' ? '' : `${dir}/`}${sha256}.${path.posix.basename(t.path)}`;
      const wanted = [
        {
          expected: { name: sha256, sha256, maxBytes: t.length, length: t.length },
          from: `/tuf/targets/${hashed}`,
        },
        ...(t.path.startsWith('payloads/')
          ? [
              {
                expected: { name: `${sha256}.p7s`, maxBytes: MAX_SIGNATURE_BYTES },
                from: `/content/${sha256}.p7s`,
              },
            ]
          : []),
      ];
      for (const w of wanted) {
        if (this.cache.has(w.expected.name)) continue;
        try {
          (await this.fetcher.get(w.expected, w.from)).release();
        } catch (err) {
          this.opts.log.warn({ target: t.path, err: (err as Error).message }, 'prefetch failed');
        }
      }
    }
  }

  private schedule(): void {
    this.timer = setTimeout(() => {
      this.running = this.refresh().finally(() => {
        this.running = undefined;
        if (this.timer !== undefined) this.schedule();
      });
    }, this.opts.refreshMs);
    this.timer.unref();
  }
}
