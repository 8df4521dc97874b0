import express, { type RequestHandler } from 'express';
import type { Socket } from 'node:net';
import { UpcatError } from '../../errors.js';
import { errorBody } from './errors.js';

/**
 * Request bodies are size- and time-limited (issue 13 item 7).
 *
 * Size: a body whose declared `Content-Length` is over the route's limit is refused with 413
 * before a byte of it is read, and the connection is closed (body-parser would otherwise read it
 * to the end first: a declared 10 GB with no body got no answer at all).
 *
 * Time: a body must keep arriving. After `graceMs` it must have averaged at least
 * `minBytesPerSecond` since then, or the request is answered 408 and its connection closed. A
 * body trickled one byte every ten seconds would otherwise hold a socket (and a body parser or
 * an upload lease) for as long as its sender likes, with no login needed. The count is the
 * socket's (`bytesRead`), so it works whoever reads the body, and a handler that stops reading
 * for a moment (back-pressure) is covered by the average.
 */
export interface BodyTimeLimits {
  graceMs: number;
  minBytesPerSecond: number;
}

/** Refuses a declared body over `limitBytes`, then parses JSON up to that size. */
export function jsonBody(limitBytes: number): RequestHandler {
  const parse = express.json({ limit: limitBytes });
  return (req, res, next) => {
    checkDeclaredBody(req, limitBytes);
    void parse(req, res, next);
  };
}

/** 413 (and the connection closed) for a declared body over `limitBytes`, before reading it. */
function checkDeclaredBody(req: express.Request, limitBytes: number): void {
  const declared = declaredLength(req.headers['content-length']);
  if (declared !== undefined && declared > limitBytes) {
    req.res?.set('Connection', 'close');
    throw new UpcatError(
      'too_large',
      `request body: Content-Length ${declared} is over the ${limitBytes}-byte limit of ${req.method} ${req.path}`,
    );
  }
}

function declaredLength(value: string | undefined): number | undefined {
  if (value === undefined || !/^\d{1,20}$/.test(value)) return undefined;
  return Number(value);
}

/** The 408 guard for every request that has a body (see above). */
export function bodyDeadline(limits: BodyTimeLimits): RequestHandler {
  return (req, res, next) => {
    const hasBody =
      req.headers['transfer-encoding'] !== undefined ||
      (declaredLength(req.headers['content-length']) ?? 0) > 0;
    if (!hasBody || req.complete) {
      next();
      return;
    }
    const socket = req.socket;
    const base = socket.bytesRead;
    const started = Date.now();
    const timer = setInterval(() => {
      if (req.complete || socket.destroyed) {
        clearInterval(timer);
        return;
      }
      const late = Date.now() - started - limits.graceMs;
      if (late <= 0) return;
      if (socket.bytesRead - base >= (late / 1000) * limits.minBytesPerSecond) return;
      clearInterval(timer);
      timeOut(socket, res, limits);
    }, 250);
    timer.unref();
    res.on('close', () => clearInterval(timer));
    next();
  };
}

function timeOut(socket: Socket, res: express.Response, limits: BodyTimeLimits): void {
  if (res.headersSent) {
    socket.destroy();
    return;
  }
  res
    .status(408)
    .set('Connection', 'close')
    .json(
      errorBody(
        'request_timeout',
        `request body: not received in time (at least ${limits.minBytesPerSecond} bytes/s after ${limits.graceMs} ms; server.bodyTimeoutMs, server.minBodyBytesPerSecond)`,
      ),
    );
  // The rest of the body is never read: end the connection once the answer is out.
  res.on('finish', () => {
    socket.end();
    setTimeout(() => socket.destroy(), 1000).unref();
  });
}
