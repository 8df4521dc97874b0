import type { RequestHandler } from 'express';
import { UpcatError } from '../../errors.js';

/**
 * A fixed-window limit per source address (for the unauthenticated fallback status point).
 * In memory, so per server node: behind a load balancer the site-wide limit is nodes × limit.
 * The socket address is used, not X-Forwarded-For, which any sender can write.
 */
export function rateLimit(options: { perMinute: number; maxKeys?: number }): RequestHandler {
  const windowMs = 60_000;
  const maxKeys = options.maxKeys ?? 100_000;
  let windowStart = Date.now();
  let counts = new Map<string, number>();
  return (req, res, next) => {
    const at = Date.now();
    if (at - windowStart >= windowMs || counts.size >= maxKeys) {
      // A new window; a flood of distinct addresses also starts one rather than grow the map.
      windowStart = at;
      counts = new Map();
    }
    const key = req.socket.remoteAddress ?? 'unknown';
    const n = (counts.get(key) ?? 0) + 1;
    counts.set(key, n);
    if (n > options.perMinute) {
      res.set('Retry-After', String(Math.ceil((windowStart + windowMs - at) / 1000)));
      throw new UpcatError('rate_limited', `too many status messages from ${key}; retry later`);
    }
    next();
  };
}
