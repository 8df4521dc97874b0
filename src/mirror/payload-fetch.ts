import { createHash, randomBytes } from 'node:crypto';
import { open, rm } from 'node:fs/promises';
import path from 'node:path';
import { UpcatError } from '../errors.js';
import type { CacheHold, PayloadCache } from './payload-cache.js';

/** What the signed catalog says of a file the mirror fetches (undefined sha256: not checkable). */
export interface Expected {
  /** The cache name: the SHA-256, or `<sha256>.p7s`. */
  name: string;
  /** When set, the bytes must hash to it (TUF target hashes; a payload's name). */
  sha256?: string;
  /** The most bytes accepted: the signed length for targets, a small cap for signatures. */
  maxBytes: number;
  /** The exact length, when the signed catalog states it. */
  length?: number;
}

/**
 * The response of the request that started a fetch: it gets the bytes as they arrive instead
 * of waiting for the whole file (`used` once the first chunk went to it). The file is admitted
 * only after the hash check; a response that got bad bytes is cut, and the agent's own check
 * refuses them anyway.
 */
export interface LiveSink {
  used: boolean;
  write(chunk: Buffer): void;
}

export interface FetchLimits {
  /** No byte from the upstream for this long ends the fetch. */
  idleMs: number;
  /** The whole fetch may take no longer than this. */
  totalMs: number;
}

/**
 * Fills the cache from the upstream on first request (issue 15 item 5): the body is streamed to
 * a temporary file, hashed on the way, cut at the signed length, and admitted only when its
 * SHA-256 is the one its name (and the signed catalog) gives. Requests for a file that is being
 * fetched wait for that one fetch instead of starting another.
 */
export class PayloadFetcher {
  private readonly inFlight = new Map<string, Promise<void>>();

  constructor(
    private readonly cache: PayloadCache,
    private readonly upstream: string,
    private readonly limits: FetchLimits,
  ) {}

  /** A hold on the cached file, fetching it from `upstreamPath` when it is not cached. */
  async get(expected: Expected, upstreamPath: string, live?: LiveSink): Promise<CacheHold> {
    for (;;) {
      const cached = this.cache.acquire(expected.name);
      if (cached !== undefined) return cached;
      const running = this.inFlight.get(expected.name);
      if (running !== undefined) {
        await running;
        continue; // admitted (or too large to keep: fetch again for this request)
      }
      let hold: CacheHold | undefined;
      const fetching = this.fetch(expected, upstreamPath, live).then((h) => {
        hold = h;
      });
      this.inFlight.set(expected.name, fetching);
      try {
        await fetching;
      } finally {
        this.inFlight.delete(expected.name);
      }
      if (hold === undefined) throw new Error('fetch ended without a file');
      return hold;
    }
  }

  get fetching(): number {
    return this.inFlight.size;
  }

  private async fetch(
    expected: Expected,
    upstreamPath: string,
    live: LiveSink | undefined,
  ): Promise<CacheHold> {
    const tmp = path.join(this.cache.tmpDir, `${expected.name}.${randomBytes(6).toString('hex')}`);
    const abort = new AbortController();
    const total = setTimeout(
      () => abort.abort(new Error('the upstream took too long')),
      this.limits.totalMs,
    );
    let idle = setTimeout(() => abort.abort(new Error('the upstream stalled')), this.limits.idleMs);
    const handle = await open(tmp, 'w', 0o600);
    let size = 0;
    try {
      const res = await fetch(`${this.upstream}${upstreamPath}`, {
        signal: abort.signal,
        redirect: 'error',
      });
      if (res.status === 404) {
        await res.body?.cancel().catch(() => undefined);
        throw new UpcatError('not_found', `the upstream has no ${upstreamPath}`);
      }
      if (res.status !== 200 || res.body === null) {
        await res.body?.cancel().catch(() => undefined);
        throw new UpcatError(
          'internal',
          `the upstream answered ${upstreamPath} with HTTP ${res.status}`,
        );
      }
      const hash = createHash('sha256');
      for await (const chunk of res.body) {
        clearTimeout(idle);
        idle = setTimeout(() => abort.abort(new Error('the upstream stalled')), this.limits.idleMs);
        size += chunk.length;
        if (size > expected.maxBytes) {
          abort.abort(new Error('too long'));
          throw new UpcatError(
            'integrity',
            `the upstream sent more than the ${expected.maxBytes} bytes allowed for ${expected.name}`,
          );
        }
        hash.update(chunk);
        await handle.write(chunk);
        if (live !== undefined) {
          live.used = true;
          live.write(Buffer.from(chunk));
        }
      }
      if (expected.length !== undefined && size !== expected.length)
        throw new UpcatError(
          'integrity',
          `the upstream sent ${size} bytes of ${expected.name}, the signed catalog says ${expected.length}`,
        );
      const digest = hash.digest('hex');
      if (expected.sha256 !== undefined && digest !== expected.sha256)
        throw new UpcatError(
          'integrity',
          `the upstream's bytes for ${expected.name} do not hash to their name (SHA-256 ${digest})`,
        );
      await handle.sync();
    } catch (err) {
      await handle.close();
      await rm(tmp, { force: true });
      if (err instanceof UpcatError) throw err;
      throw new UpcatError(
        'internal',
        `cannot fetch ${upstreamPath} from the upstream: ${describe(err)}`,
        {
          cause: err,
        },
      );
    } finally {
      clearTimeout(total);
      clearTimeout(idle);
    }
    await handle.close();
    return this.cache.admit(expected.name, tmp, size);
  }
}

function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = (err as Error & { cause?: unknown }).cause;
  return cause instanceof Error ? `${err.message} (${cause.message})` : err.message;
}
