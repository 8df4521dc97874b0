import type { RequestHandler } from 'express';
import type { Logger } from 'pino';

/** One line per request: method, path (no query string, which could carry a token), status, time. */
export function requestLog(log: Logger): RequestHandler {
  // The lines are debug-level: below that, skip the per-request listener and clock reads.
  if (!log.isLevelEnabled('debug')) return (_req, _res, next) => next();
  return (req, res, next) => {
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      log.debug(
        {
          method: req.method,
          path: req.path,
          status: res.statusCode,
          ms: Math.round(ms * 10) / 10,
        },
        'request',
      );
    });
    next();
  };
}
