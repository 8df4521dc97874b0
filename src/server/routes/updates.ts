import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import busboy from 'busboy';
import type { Request, Response, Router } from 'express';
import type { Site } from '../../app.js';
import { canonicalJson } from '../../catalog/canonical-json.js';
import { UpcatError, invalidInput } from '../../errors.js';
import { IdempotencyStore, type Claim } from '../../publish/idempotency.js';
import { publishAnswer } from '../../publish/publish-service.js';
import { checkRelativePath } from '../../publish/safe-path.js';
import { actorOf, requireScope } from '../middleware/token-auth.js';

/** Room for the multipart boundaries and part headers around the manifest and the payload. */
const FORM_OVERHEAD_BYTES = 64 * 1024;
/** Printable ASCII, as the IETF idempotency-key draft and Stripe use; long enough for a UUID. */
const IDEMPOTENCY_KEY = /^[!-~]{1,255}$/;

interface UploadLimits {
  maxPayloadBytes: number;
  maxManifestBytes: number;
}

/**
 * `POST /v1/updates` (issue 7; docs/PROTOCOL.md): publish over HTTP with a `publish` token.
 * The body is `multipart/form-data`: a `manifest` part, then a `payload` file part, parsed as a
 * stream (busboy) straight into the payload pool's staging file through the same PublishService
 * as `upcat publish`, so the payload is hashed on the way in, never held in memory and written
 * once. Nothing is committed until the whole form has arrived intact.
 */
export function updatesRoutes(
  router: Router,
  site: Pick<Site, 'tokens' | 'publish' | 'config' | 'db'>,
): void {
  const keys = new IdempotencyStore(site.db);
  router.post('/v1/updates', requireScope(site, 'publish'), async (req, res) => {
    const limits = site.config.limits;
    checkDeclaredLength(req, limits);
    const key = idempotencyKeyOf(req);
    const claim: Claim | undefined =
      key === undefined ? undefined : await keys.claim(actorOf(res), key);
    if (claim?.kind === 'in_progress') {
      throw new UpcatError(
        'in_progress',
        'a request with this Idempotency-Key is still running; retry later',
      );
    }
    let form: UploadForm | undefined;
    try {
      form = readUploadForm(req, limits);
      const upload = await form.upload;
      if (claim?.kind === 'done') {
        await replay(res, claim.answer, upload, limits.maxPayloadBytes);
        return;
      }
      const result = await site.publish.publish({
        source: upload.source,
        fileName: upload.fileName,
        manifest: upload.manifest,
        actor: actorOf(res),
      });
      const status = result.created ? 201 : 200;
      const body = publishAnswer(result);
      await claim?.lease.complete({
        status,
        body,
        requestHash: requestHash(upload),
        payloadSha256: result.sha256,
      });
      res.status(status).json(body);
    } catch (err) {
      form?.abandon();
      if (claim?.kind === 'claimed') await claim.lease.release();
      throw err;
    }
  });
}

/** A retry of a request that was answered: the same request gets the same answer. */
async function replay(
  res: Response,
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
  res.status(answer.status).json(answer.body);
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

/** Refuses a declared body that cannot fit before reading a byte of it. */
function checkDeclaredLength(req: Request, limits: UploadLimits): void {
  const declared = Number(req.get('content-length') ?? NaN);
  if (Number.isFinite(declared) && declared > uploadCap(limits)) {
    throw new UpcatError(
      'too_large',
      `upload of ${declared} bytes is larger than the limit (payload ${limits.maxPayloadBytes} bytes, manifest ${limits.maxManifestBytes} bytes)`,
    );
  }
}

function uploadCap(limits: UploadLimits): number {
  return limits.maxPayloadBytes + limits.maxManifestBytes + FORM_OVERHEAD_BYTES;
}

interface Upload {
  manifest: unknown;
  fileName: string;
  /** The payload's bytes; ends (or throws) only once the whole form has been read and checked. */
  source: AsyncIterable<Buffer>;
}

interface UploadForm {
  /** Settles when the payload part starts, with the manifest already read and parsed. */
  upload: Promise<Upload>;
  /** Stops parsing after a failure; the rest of the request body is read and dropped. */
  abandon(): void;
}

/**
 * Parses the form as it arrives. The manifest part must come first, so that the manifest can be
 * checked before the payload's bytes are stored; anything after the payload part, a truncated
 * form or a dropped connection makes the payload source throw, so no publish commits.
 */
function readUploadForm(req: Request, limits: UploadLimits): UploadForm {
  const contentType = req.get('content-type') ?? '';
  if (!/^multipart\/form-data\s*;/i.test(contentType)) {
    throw invalidInput(
      'Content-Type: must be multipart/form-data with a "manifest" part then a "payload" file part',
    );
  }
  let parser: busboy.Busboy;
  try {
    parser = busboy({
      headers: req.headers,
      // The raw name, so that a path is refused rather than silently cut to its last segment.
      preservePath: true,
      limits: {
        fieldSize: limits.maxManifestBytes,
        fields: 1,
        files: 2,
        parts: 3,
        headerPairs: 16,
      },
    });
  } catch (err) {
    throw invalidInput(`Content-Type: ${(err as Error).message}`);
  }

  let failed: Error | undefined;
  let manifest: Promise<unknown> | undefined;
  let payload: Readable | undefined;
  let resolveUpload: (u: Upload) => void = () => undefined;
  let rejectUpload: (err: Error) => void = () => undefined;
  const upload = new Promise<Upload>((resolve, reject) => {
    resolveUpload = resolve;
    rejectUpload = reject;
  });
  let resolveDone: () => void = () => undefined;
  let rejectDone: (err: Error) => void = () => undefined;
  const done = new Promise<void>((resolve, reject) => {
    resolveDone = resolve;
    rejectDone = reject;
  });
  done.catch(() => undefined); // observed through the payload source, or not at all

  const fail = (err: Error): void => {
    if (failed !== undefined) return;
    failed = err;
    rejectUpload(err);
    rejectDone(err);
    payload?.destroy(err);
  };
  const unexpected = (what: string): void =>
    fail(
      invalidInput(
        `${what}: the form holds a "manifest" part, then a "payload" file part, and nothing else`,
      ),
    );

  parser.on('field', (name, value, info) => {
    if (name !== 'manifest' || manifest !== undefined) return unexpected(`form field "${name}"`);
    if (info.valueTruncated) return fail(manifestTooLarge(limits));
    manifest = new Promise((resolve) => resolve(parseManifestJson(value)));
    manifest.catch(fail);
  });
  parser.on('file', (name, stream, info) => {
    if (name === 'manifest' && manifest === undefined) {
      manifest = readManifestPart(stream, limits);
      manifest.catch(fail);
      return;
    }
    if (name !== 'payload' || manifest === undefined || payload !== undefined) {
      stream.resume();
      return unexpected(
        manifest === undefined ? `part "${name}" before the manifest` : `form part "${name}"`,
      );
    }
    payload = stream;
    stream.on('error', () => undefined); // seen by whoever reads the payload, if anyone does
    const current = manifest;
    void (async () => {
      try {
        const fileName = checkFileName(info.filename);
        resolveUpload({ manifest: await current, fileName, source: payloadSource(stream, done) });
      } catch (err) {
        fail(err as Error);
      }
    })();
  });
  parser.on('filesLimit', () => unexpected('a third part'));
  parser.on('fieldsLimit', () => unexpected('a second field'));
  parser.on('error', (err: Error) => fail(invalidInput(`multipart form: ${err.message}`)));
  parser.on('close', () => {
    if (payload === undefined) unexpected('a form without a "payload" file part');
    else resolveDone();
  });

  // Counting beside the pipe keeps its backpressure: a body past the cap is refused as it grows.
  let received = 0;
  const cap = uploadCap(limits);
  const count = (chunk: Buffer): void => {
    received += chunk.length;
    if (received > cap)
      fail(new UpcatError('too_large', `upload is larger than the limit of ${cap} bytes`));
  };
  req.on('data', count);
  req.on('error', (err) => fail(invalidInput(`upload interrupted: ${err.message}`)));
  req.on('close', () => {
    if (!req.complete) fail(invalidInput('the connection closed before the upload was complete'));
  });
  req.pipe(parser);

  return {
    upload,
    abandon: () => {
      fail(new Error('upload abandoned'));
      req.off('data', count);
      req.unpipe(parser);
      req.resume();
    },
  };
}

async function* payloadSource(stream: Readable, done: Promise<void>): AsyncGenerator<Buffer> {
  for await (const chunk of stream) yield chunk as Buffer;
  await done;
}

async function readManifestPart(stream: Readable, limits: UploadLimits): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += (chunk as Buffer).length;
    if (size > limits.maxManifestBytes) {
      stream.resume();
      throw manifestTooLarge(limits);
    }
    chunks.push(chunk as Buffer);
  }
  return parseManifestJson(Buffer.concat(chunks).toString('utf8'));
}

function parseManifestJson(text: string): unknown {
  try {
    return JSON.parse(text.replace(/^\uFEFF/, '')) as unknown;
  } catch (err) {
    throw invalidInput(`manifest: not valid JSON: ${(err as Error).message}`, {
      field: 'manifest',
    });
  }
}

function manifestTooLarge(limits: UploadLimits): UpcatError {
  return new UpcatError(
    'too_large',
    `manifest is larger than the limit of ${limits.maxManifestBytes} bytes`,
  );
}

/** The payload's file name, as endpoints will see it: one safe path segment. */
function checkFileName(name: string | undefined): string {
  if (name === undefined || name === '')
    throw invalidInput('payload: the part needs a filename (e.g. curl -F payload=@build.zip)');
  checkRelativePath(name, 'payload filename');
  if (name.includes('/')) throw invalidInput(`payload filename: "${name}" must not contain "/"`);
  return name;
}
