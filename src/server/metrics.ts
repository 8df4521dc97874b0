import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Request, RequestHandler } from 'express';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { RouteHistogram } from './route-histogram.js';

/**
 * Request-duration buckets, in seconds. Fine at the low end (0.5 ms steps to 5 ms) because the
 * answers that matter most, the timestamp.json 304 and the nothing-new sync, take well under a
 * millisecond to a few: a p99 read from coarser buckets would be the bucket's edge, not a figure.
 */
export const DURATION_BUCKETS = [
  0.0005, 0.001, 0.0015, 0.002, 0.003, 0.004, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075,
  0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

/** Route label of a request no route matched: random URLs must not each make a series. */
export const UNMATCHED = 'unmatched';

/** Methods kept as they are; any other becomes `other` (bounded label values). */
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']);

/**
 * One per process: Node's process metrics (CPU, memory, event-loop lag, GC) belong to the process,
 * not to a site, and collecting them starts observers that must not be multiplied by every app a
 * process builds (the tests build many).
 */
let processRegistry: Registry | undefined;
function processMetrics(): Registry {
  if (processRegistry === undefined) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

/**
 * The server's Prometheus metrics (DESIGN.md §5, `GET /metrics`; docs/OPERATIONS.md
 * "Metrics"). Every answered request is timed, Express's and those the fast paths in front of
 * Express give (serve.ts), under the route template rather than the URL, so the number of series
 * is bounded by the routes the server has. The domain counters are read off the same answers
 * (route and status), so no route or service has to remember to count.
 */
export class ServerMetrics {
  readonly registry = new Registry();
  private readonly duration = new RouteHistogram(
    'upcat_http_request_duration_seconds',
    'Time from the handler receiving a request to its answer being handed to the socket, by method, route template and status code',
    DURATION_BUCKETS,
  );
  /** Plain numbers, since the fast path counts here; the counter reads them at scrape time. */
  private readonly syncCounts = {
    memory: { not_modified: 0, full: 0 },
    database: { not_modified: 0, full: 0 },
  };
  /** Answers the front gave (answeredOnSocket), by route; plain numbers, read at scrape time. */
  private readonly frontCounts = new Map<string, number>([
    ['/tuf/:file', 0],
    ['/v1/sync', 0],
  ]);
  private readonly publishes: Counter<'result'>;
  private readonly registrations: Counter;
  private readonly stateMessages: Counter<'path'>;

  constructor(sources: { syncCacheClients?: () => number } = {}) {
    const registers = [this.registry];
    const syncCounts = this.syncCounts;
    new Counter({
      name: 'upcat_syncs_total',
      help: 'Answered GET /v1/sync: result not_modified (304) or full (200); path memory (the fast path) or database',
      labelNames: ['result', 'path'],
      registers,
      collect() {
        this.reset();
        this.inc({ result: 'not_modified', path: 'memory' }, syncCounts.memory.not_modified);
        this.inc({ result: 'not_modified', path: 'database' }, syncCounts.database.not_modified);
        this.inc({ result: 'full', path: 'database' }, syncCounts.database.full);
        // A new policy from the shared-policy cache (issue 16): the fast path answers it too.
        this.inc({ result: 'full', path: 'memory' }, syncCounts.memory.full);
      },
    });
    const frontCounts = this.frontCounts;
    new Counter({
      name: 'upcat_front_answers_total',
      help: 'Requests answered on the connection before node:http parsed them (server.metadataFront), by route template',
      labelNames: ['route'],
      registers,
      collect() {
        this.reset();
        for (const [route, n] of frontCounts) this.inc({ route }, n);
      },
    });
    this.publishes = new Counter({
      name: 'upcat_publishes_total',
      help: 'POST /v1/updates that succeeded: result created (a new revision) or unchanged (an idempotent repeat)',
      labelNames: ['result'],
      registers,
    });
    this.registrations = new Counter({
      name: 'upcat_registrations_total',
      help: 'POST /v1/clients that succeeded (new registrations and re-registrations)',
      registers,
    });
    this.stateMessages = new Counter({
      name: 'upcat_state_messages_total',
      help: 'State messages accepted: path authenticated (POST /v1/status) or fallback (POST /fsp/v1/status)',
      labelNames: ['path'],
      registers,
    });
    const cacheSize = sources.syncCacheClients;
    if (cacheSize !== undefined) {
      new Gauge({
        name: 'upcat_sync_cache_clients',
        help: 'Clients whose nothing-new sync the fast path can answer from memory',
        registers,
        collect() {
          this.set(cacheSize());
        },
      });
    }
    // Series that exist before their first event, so that rate() and the benchmark's
    // before/after difference see a zero rather than a missing series.
    for (const result of ['created', 'unchanged']) this.publishes.inc({ result }, 0);
    for (const path of ['authenticated', 'fallback']) this.stateMessages.inc({ path }, 0);
    this.registrations.inc(0);
  }

  /** Express middleware, first in the chain: times the request and counts it once answered. */
  express(): RequestHandler {
    return (req, res, next) => {
      const started = performance.now();
      res.once('finish', () => {
        const route = routeOf(req);
        this.observe(req.method, route, res.statusCode, started);
        this.count(req, route, res.statusCode);
      });
      // A response the client abandoned (a download cut off) never finishes: still an answer
      // that took time, so it is timed under code `aborted` rather than lost.
      res.once('close', () => {
        if (!res.writableFinished) this.observe(req.method, routeOf(req), 'aborted', started);
      });
      next();
    };
  }

  /**
   * A request that a fast path in front of Express answered (serve.ts): synchronously, so the
   * time is taken now. `route` is the template Express would have matched, so that one series
   * holds a route's answers whichever path gave them.
   */
  answeredEarly(route: string, req: IncomingMessage, res: ServerResponse, started: number): void {
    this.observe(req.method ?? 'GET', route, res.statusCode, started);
    this.countEarly(route, res.statusCode);
  }

  /** The sync fast path answers 304s, and new policies from the shared-policy cache. */
  private countEarly(route: string, code: number): void {
    if (route === '/v1/sync' && code === 304) this.syncCounts.memory.not_modified++;
    if (route === '/v1/sync' && code === 200) this.syncCounts.memory.full++;
  }

  private gather: (() => Promise<string>) | undefined;

  /**
   * With several worker processes, GET /metrics answers with what `gather` gives: every
   * worker's text, merged (metrics-merge.ts, workers.ts).
   */
  gatherWith(gather: () => Promise<string>): void {
    this.gather = gather;
  }

  /** What GET /metrics answers: this process's text, or every worker's. */
  async exposition(): Promise<{ contentType: string; body: string }> {
    if (this.gather === undefined) return this.text();
    return { contentType: this.registry.contentType, body: await this.gather() };
  }

  /** The Prometheus text exposition: the process's metrics, then the server's. */
  async text(): Promise<{ contentType: string; body: string }> {
    const [proc, own] = await Promise.all([processMetrics().metrics(), this.registry.metrics()]);
    return {
      contentType: this.registry.contentType,
      body: `${proc}\n${own}\n${this.duration.text()}`,
    };
  }

  /**
   * A request answered on the connection itself, before node:http parsed it (metadata-front.ts):
   * timed from when its bytes were read.
   */
  answeredOnSocket(method: string, route: string, code: number, started: number): void {
    this.observe(method, route, code, started);
    this.countEarly(route, code);
    this.frontCounts.set(route, (this.frontCounts.get(route) ?? 0) + 1);
  }

  private observe(method: string, route: string, code: number | string, started: number): void {
    this.duration.observe(
      METHODS.has(method) ? method : 'other',
      route,
      code,
      (performance.now() - started) / 1000,
    );
  }

  /** The domain counters, read off an answer that Express routing gave (the database path). */
  private count(req: Request, route: string, status: number): void {
    switch (route) {
      case '/v1/sync':
        if (status === 304) this.syncCounts.database.not_modified++;
        else if (status === 200) this.syncCounts.database.full++;
        return;
      case '/v1/clients':
        if (req.method === 'POST' && status === 201) this.registrations.inc();
        return;
      case '/v1/updates':
        if (status === 201 || status === 200)
          this.publishes.inc({ result: status === 201 ? 'created' : 'unchanged' });
        return;
      case '/v1/status':
      case '/fsp/v1/status':
        // 202 means the body passed validation, so `messages` is the array that was stored.
        if (status === 202)
          this.stateMessages.inc(
            { path: route === '/v1/status' ? 'authenticated' : 'fallback' },
            messageCount(req.body),
          );
        return;
      default:
        return;
    }
  }
}

/** The matched route's template (`/tuf/:file`), never the URL; `unmatched` when none matched. */
function routeOf(req: Request): string {
  const path = (req.route as { path?: unknown } | undefined)?.path;
  return typeof path === 'string' ? req.baseUrl + path : UNMATCHED;
}

function messageCount(body: unknown): number {
  const messages = (body as { messages?: unknown } | undefined)?.messages;
  return Array.isArray(messages) ? messages.length : 0;
}
