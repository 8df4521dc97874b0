import type { ErrorRequestHandler, RequestHandler } from 'express';
import type { Logger } from 'pino';
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

/** Error codes that mean the connection to the client ended under the request. */
const CLIENT_GONE = new Set(['ECONNABORTED', 'ECONNRESET', 'EPIPE', 'ERR_STREAM_PREMATURE_CLOSE']);

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
