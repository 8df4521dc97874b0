import { createHash } from 'node:crypto';
import type { NextFunction, Request, Response, Router } from 'express';
import type { Site } from '../../app.js';
import { canonicalJson } from '../../catalog/canonical-json.js';
import { UpcatError, invalidInput } from '../../errors.js';
import { IdempotencyStore, type Claim } from '../../publish/idempotency.js';
import { publishAnswer } from '../../publish/publish-service.js';
import { actorKeyOf, actorOf, requireScope } from '../middleware/token-auth.js';
import {
  checkDeclaredLength,
  readUploadBody,
  type Upload,
  type UploadBody,
} from './upload-body.js';

/** Printable ASCII, as the IETF idempotency-key draft and Stripe use; long enough for a UUID. */
const IDEMPOTENCY_KEY = /^[!-~]{1,255}$/;
/**
 * A body refused before it was read is drained (so the connection can be reused) up to this
 * size; a larger or undeclared one is not read: the answer closes the connection instead.
 */
const DRAIN_MAX_BYTES = 1024 * 1024;

/**
 * `POST /v1/updates` (issue 7; docs/PROTOCOL.md): publish over HTTP with a `publish` token.
 * The body (multipart, or the raw payload: upload-body.ts) is streamed straight into the payload
 * pool's staging file through the same PublishService as `upcat publish`, so the payload is
 * hashed on the way in, never held in memory and written once. Nothing is committed until the
 * whole body has arrived intact.
 */
export function updatesRoutes(
  router: Router,
  site: Pick<Site, 'tokens' | 'publish' | 'config' | 'db'>,
): void {
  const keys = new IdempotencyStore(site.db);
  router.post(
    '/v1/updates',
    closeIfRefusedUnread,
    requireScope(site, 'publish'),
    async (req, res) => {
      const limits = site.config.limits;
      checkDeclaredLength(req, limits);
      const key = idempotencyKeyOf(req);
      const claim: Claim | undefined =
        key === undefined ? undefined : await keys.claim(actorKeyOf(res), key);
      if (claim?.kind === 'in_progress') {
        throw new UpcatError(
          'in_progress',
          'a request with this Idempotency-Key is still running; retry later',
        );
      }
      let body: UploadBody | undefined;
      try {
        body = readUploadBody(req, limits);
        const upload = await body.upload;
        if (claim?.kind === 'done') {
          await checkReplay(claim.answer, upload, limits.maxPayloadBytes);
          keepAliveIfRead(req, res);
          res.status(claim.answer.status).json(claim.answer.body);
          return;
        }
        const result = await site.publish.publish({
          source: upload.source,
          fileName: upload.fileName,
          manifest: upload.manifest,
          actor: actorOf(res),
        });
        const status = result.created ? 201 : 200;
        const answer = publishAnswer(result);
        await claim?.lease.complete({
          status,
          body: answer,
          requestHash: requestHash(upload),
          payloadSha256: result.sha256,
        });
        keepAliveIfRead(req, res);
        res.status(status).json(answer);
      } catch (err) {
        body?.abandon(drains(req));
        if (claim?.kind === 'claimed') await claim.lease.release();
        throw err;
      }
    },
  );
}

/** A small declared body is read to its end after a refusal; anything else is not. */
function drains(req: Request): boolean {
  const declared = Number(req.get('content-length') ?? NaN);
  return Number.isFinite(declared) && declared <= DRAIN_MAX_BYTES;
}

/**
 * Runs before authentication: a large body that is refused (401, 403, 413, 400...) before it has
 * been read must not be read in full just to keep the connection open, so such an answer says
 * `Connection: close`, and the connection is closed shortly after it (lingerThenClose). A publish
 * that did read the whole body keeps the connection (keepAliveIfRead).
 */
function closeIfRefusedUnread(req: Request, res: Response, next: NextFunction): void {
  if (!drains(req)) {
    res.setHeader('Connection', 'close');
    res.once('finish', () => {
      if (!req.complete) lingerThenClose(req);
    });
  }
  next();
}

/** After an early refusal: how long, and how much of the rest of the body, is read and dropped. */
const LINGER_MS = 2000;
const LINGER_BYTES = 16 * 1024 * 1024;

/**
 * Node ends a `Connection: close` socket after the answer and destroys it as soon as that is
 * flushed. Destroying a socket whose peer is still sending makes the kernel reset the connection,
 * and the reset can beat the answer to the client (Node's own client then reports EPIPE, not the
 * 413). So, as nginx's lingering close does, the body is read and dropped for a short while, up
 * to LINGER_BYTES: a client that reads the answer stops sending and closes first.
 */
function lingerThenClose(req: Request): void {
  const socket = req.socket;
  if (socket.destroyed) return;
  socket.removeListener('finish', socket.destroy); // the destroy that socket.destroySoon() queued
  let dropped = 0;
  const close = (): void => {
    clearTimeout(timer);
    socket.destroy();
  };
  const timer = setTimeout(close, LINGER_MS);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
  req.on('data', (chunk: Buffer) => {
    dropped += chunk.length;
    if (dropped > LINGER_BYTES) close();
  });
  req.once('end', close);
  req.resume();
}

function keepAliveIfRead(req: Request, res: Response): void {
  if (req.complete) res.removeHeader('Connection');
}

/** A retry of a request that was answered gets the same answer, if it is the same request. */
async function checkReplay(
  answer: { status: number; body: unknown; requestHash: string; payloadSha256: string },
  upload: Upload,
  maxPayloadBytes: number,
): Promise<void> {
  const mismatch = (): UpcatError =>
    new UpcatError(
      'idempotency_mismatch',
      'this Idempotency-Key was used for a different upload; use a new key for a new request',
    );
  if (requestHash(upload) !== answer.requestHash) throw mismatch();
  // The payload is only hashed (not stored again) to tell a true retry from a new upload.
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of upload.source) {
    size += chunk.length;
    if (size > maxPayloadBytes) {
      throw new UpcatError(
        'too_large',
        `payload is larger than the limit of ${maxPayloadBytes} bytes`,
      );
    }
    hash.update(chunk);
  }
  if (hash.digest('hex') !== answer.payloadSha256) throw mismatch();
}

function requestHash(upload: Upload): string {
  let text: string;
  try {
    text = canonicalJson({ manifest: upload.manifest, fileName: upload.fileName });
  } catch {
    text = 'not canonical JSON'; // e.g. 1e999: such a manifest never published, so never matches
  }
  return createHash('sha256').update(text).digest('hex');
}

function idempotencyKeyOf(req: Request): string | undefined {
  const key = req.get('idempotency-key');
  if (key === undefined) return undefined;
  if (!IDEMPOTENCY_KEY.test(key))
    throw invalidInput('Idempotency-Key: must be 1-255 printable ASCII characters');
  return key;
}
