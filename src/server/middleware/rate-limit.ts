import { isIPv4, isIPv6 } from 'node:net';
import type { RequestHandler } from 'express';
import { UpcatError } from '../../errors.js';
import { clientAddress } from '../trusted-proxy.js';

/**
 * A fixed-window limit per source (for the unauthenticated fallback status point). In memory,
 * so per server node: behind a load balancer the site-wide limit is nodes × limit. The socket
 * address is used, or X-Forwarded-For's last entry when the socket is one of `trustedProxies`
 * (a balancer in front of the nodes): any other sender can write that header.
 *
 * A source is an IPv4 address or an IPv6 /64 (one host is commonly given a whole /64, so a
 * per-address key would hand one sender 2^64 budgets); IPv4-mapped IPv6 counts as its IPv4.
 * Memory is bounded by evicting the sources heard from least recently, never by forgetting
 * every count at once: a flood of new sources cannot lift the limit on one that keeps sending.
 */
export function rateLimit(options: {
  perMinute: number;
  maxKeys?: number;
  trustedProxies?: readonly string[];
}): RequestHandler {
  const windows = new RateWindows(options.perMinute, 60_000, options.maxKeys ?? 100_000);
  const proxies = options.trustedProxies ?? [];
  return (req, res, next) => {
    const peer = req.socket.remoteAddress;
    const key = sourceKey(
      proxies.length === 0 ? peer : clientAddress(peer, req.headers['x-forwarded-for'], proxies),
    );
    const { allowed, retryAfterMs } = windows.hit(key);
    if (!allowed) {
      res.set('Retry-After', String(Math.max(1, Math.ceil(retryAfterMs / 1000))));
      throw new UpcatError('rate_limited', `too many status messages from ${key}; retry later`);
    }
    next();
  };
}

/** Per-key fixed windows, least recently hit keys evicted beyond `maxKeys`. */
export class RateWindows {
  /** Insertion order is recency: a hit moves its key to the end, eviction takes the front. */
  private readonly windows = new Map<string, { start: number; count: number }>();

  constructor(
    private readonly perWindow: number,
    private readonly windowMs: number,
    private readonly maxKeys: number,
  ) {}

  get size(): number {
    return this.windows.size;
  }

  /** Whether one more hit now would be allowed, without counting it. */
  peek(key: string, at = Date.now()): { allowed: boolean; retryAfterMs: number } {
    const w = this.windows.get(key);
    if (w === undefined || at - w.start >= this.windowMs) return { allowed: true, retryAfterMs: 0 };
    return { allowed: w.count < this.perWindow, retryAfterMs: w.start + this.windowMs - at };
  }

  hit(key: string, at = Date.now()): { allowed: boolean; retryAfterMs: number } {
    let w = this.windows.get(key);
    if (w === undefined || at - w.start >= this.windowMs) w = { start: at, count: 0 };
    w.count++;
    this.windows.delete(key);
    this.windows.set(key, w);
    while (this.windows.size > this.maxKeys) {
      const oldest = this.windows.keys().next();
      if (oldest.done === true) break;
      this.windows.delete(oldest.value);
    }
    return { allowed: w.count <= this.perWindow, retryAfterMs: w.start + this.windowMs - at };
  }
}

/** The rate-limit key of a socket address: IPv4 as is, IPv6 by its /64, mapped IPv4 as IPv4. */
export function sourceKey(address: string | undefined): string {
  if (address === undefined) return 'unknown';
  const bare = address.replace(/%.*$/, ''); // a zone index (fe80::1%eth0) is not part of the address
  if (isIPv4(bare)) return bare;
  const groups = isIPv6(bare) ? ipv6Groups(bare) : undefined;
  if (groups === undefined) return address;
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    const [hi = 0, lo = 0] = groups.slice(6);
    return [hi >> 8, hi & 0xff, lo >> 8, lo & 0xff].join('.');
  }
  return `${groups
    .slice(0, 4)
    .map((g) => g.toString(16))
    .join(':')}::/64`;
}

/** The eight 16-bit groups of a valid IPv6 address (`::` expanded, a trailing IPv4 converted). */
function ipv6Groups(address: string): number[] | undefined {
  let text = address.toLowerCase();
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4 !== null) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const zeros = tail === undefined ? 0 : 8 - left.length - right.length;
  const groups = [...left, ...Array.from({ length: zeros }, () => '0'), ...right].map((g) =>
    parseInt(g, 16),
  );
  return groups.length === 8 && groups.every((g) => g >= 0 && g <= 0xffff) ? groups : undefined;
}
