import type { ErrorRequestHandler, RequestHandler } from 'express';
import type { Logger } from 'pino';
import type { Socket } from 'node:net';
import { errnoCode, isUpcatError, type ErrorCode } from '../../errors.js';

/** The one place where domain error codes become HTTP statuses. */
export const STATUS_OF: Readonly<Record<ErrorCode, number>> = {
  invalid_input: 400,
  invalid_config: 500,
  unauthorized: 401,
  forbidden: 403,
  client_blocked: 403,
  client_replaced: 401,
  certificate_required: 403,
  not_found: 404,
  conflict: 409,
  incompatible_site: 409,
  too_large: 413,
  in_progress: 409,
  idempotency_mismatch: 422,
  rate_limited: 429,
  request_timeout: 408,
  unsigned: 422,
  tampered: 422,
  untrusted_publisher: 422,
  malformed_signature: 422,
  integrity: 500,
  internal: 500,
};

export function errorBody(
  code: string,
  message: string,
): { error: { code: string; message: string } } {
  return { error: { code, message } };
}

export const notFoundRoute: RequestHandler = (req, res) => {
  res.status(404).json(errorBody('not_found', `no route for ${req.method} ${req.path}`));
};

/**
 * Coded errors answer with their status and message. Errors raised by body parsers carry their
 * own 4xx status. Anything else is a bug: logged with its stack, answered without one.
 */
export function errorHandler(log: Logger): ErrorRequestHandler {
  return (err: unknown, req, res, _next) => {
    if (!res.headersSent && (databaseUnavailable(err) || upstreamReset(err, req.socket))) {
      // The database is down or restarting: a condition that passes, not a bug, so the caller
      // is told when to come back and the pool reconnects by itself (issue 13 item 8).
      log.warn({ path: req.path, code: codeOf(err) }, 'database unavailable');
      res
        .status(503)
        .set('Retry-After', String(RETRY_AFTER_SECONDS))
        .json(errorBody('unavailable', 'the database is unavailable; retry later'));
      return;
    }
    if (!res.headersSent && diskFull(err)) {
      // The server's disk is full: its operator must act, the caller can only wait (RFC 4918
      // 11.5 "Insufficient Storage"); the upload was refused whole (issue 13 item 8).
      log.error({ path: req.path, code: codeOf(err) }, 'disk full');
      res
        .status(507)
        .set('Retry-After', String(RETRY_AFTER_SECONDS * 60))
        .json(errorBody('insufficient_storage', 'the server is out of disk space; retry later'));
      return;
    }
    const gone = clientGone(err);
    if (gone !== undefined) {
      // The client went away or broke its own framing (a reset, a bad chunk): nothing to
      // answer and nothing wrong here, so one line without a stack (issue 13 item 7).
      log.warn({ path: req.path, code: gone }, 'request aborted by the client');
      res.destroy();
      return;
    }
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (isUpcatError(err)) {
      const status = STATUS_OF[err.code];
      if (status >= 500) log.error({ err, path: req.path }, 'request failed');
      res.status(status).json(errorBody(err.code, err.message));
      return;
    }
    const status = httpStatusOf(err);
    if (status !== undefined && status >= 400 && status < 500) {
      res
        .status(status)
        .json(errorBody(status === 413 ? 'too_large' : 'invalid_input', messageOf(err)));
      return;
    }
    log.error({ err, path: req.path }, 'unexpected error');
    res.status(500).json(errorBody('internal', 'internal error; see the server log'));
  };
}

/** What a 503 asks the caller to wait before trying again. */
export const RETRY_AFTER_SECONDS = 5;

/**
 * Errors that mean the database cannot be reached right now: the connection was refused or
 * cut, PostgreSQL is shutting down or starting up (SQLSTATE class 08 "connection exception",
 * 57P01-57P03 "admin/crash shutdown, cannot connect now", 53300 "too many connections"), or
 * knex waited out its pool's acquire timeout. SQLite's "database is locked" is not one of
 * these: it is a busy file, not an outage.
 */
export function databaseUnavailable(err: unknown): boolean {
  const code = codeOf(err);
  if (code !== undefined) {
    if (code === 'ECONNREFUSED' || code === '53300' || /^08...$/.test(code)) return true;
    if (code === '57P01' || code === '57P02' || code === '57P03') return true;
  }
  if (err instanceof Error) {
    if (err.name === 'KnexTimeoutError') return true;
    if (/Connection terminated|is not queryable|connection was closed/i.test(err.message))
      return true;
  }
  return false;
}

function diskFull(err: unknown): boolean {
  const code = codeOf(err);
  return code === 'ENOSPC' || code === 'EDQUOT';
}

function codeOf(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null) {
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string') return code;
  }
  return undefined;
}

/** Error codes that mean the connection to the client ended under the request. */
const CLIENT_GONE = new Set(['ECONNABORTED', 'ECONNRESET', 'EPIPE', 'ERR_STREAM_PREMATURE_CLOSE']);

/**
 * A reset or broken pipe while the caller's own socket is still open happened on another
 * connection: the database's, when PostgreSQL stops or restarts under a query. The caller is
 * still there and is owed an answer (503), not a dropped connection.
 */
function upstreamReset(err: unknown, socket: Socket): boolean {
  return clientGone(err) !== undefined && !socket.destroyed && socket.writable;
}

function clientGone(err: unknown): string | undefined {
  const code = errnoCode(err);
  return code !== undefined && CLIENT_GONE.has(code) ? code : undefined;
}

function httpStatusOf(err: unknown): number | undefined {
  if (typeof err === 'object' && err !== null) {
    const s =
      (err as { status?: unknown; statusCode?: unknown }).status ??
      (err as { statusCode?: unknown }).statusCode;
    if (typeof s === 'number') return s;
  }
  return undefined;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : 'bad request';
}
