import type { RequestHandler } from 'express';
import { auditSource } from '../../storage/catalog-repo.js';

/**
 * Every change made while serving a request is recorded in the audit log as coming from the
 * caller's socket address (not X-Forwarded-For, which any caller can write).
 */
export const auditSourceOfRequest: RequestHandler = (req, _res, next) => {
  auditSource.run(req.socket.remoteAddress ?? 'unknown', next);
};
