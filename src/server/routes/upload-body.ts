import { Readable } from 'node:stream';
import busboy from 'busboy';
import type { Request } from 'express';
import { UpcatError, invalidInput } from '../../errors.js';
import { checkRelativePath } from '../../publish/safe-path.js';

/** Room for the multipart boundaries and part headers around the manifest and the payload. */
const FORM_OVERHEAD_BYTES = 64 * 1024;
/**
 * Buffering between the socket and the staging file, which has its own (reused) slabs: one
 * socket read. 1 MiB was tried (the socket then pauses less often) and was no faster; it only
 * held more of the parser's chunks alive.
 */
const PAYLOAD_HWM = 64 * 1024;
/** The header that carries the manifest of a raw upload (docs/PROTOCOL.md). */
export const MANIFEST_HEADER = 'upcat-manifest';
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

export interface UploadLimits {
  maxPayloadBytes: number;
  maxManifestBytes: number;
}

export interface Upload {
  manifest: unknown;
  fileName: string;
  /** The payload's bytes; ends (or fails) only once the whole body has been read and checked. */
  source: Readable;
}

export interface UploadBody {
  /** Settles when the payload starts, with the manifest already read and parsed. */
  upload: Promise<Upload>;
  /**
   * Stops parsing after a failure. `drain`: read the rest of the body and drop it (the connection
   * is kept); otherwise reading stops and the answer closes the connection.
   */
  abandon(drain: boolean): void;
}

/**
 * `POST /v1/updates` takes two body forms (docs/PROTOCOL.md):
 * - `multipart/form-data`: a `manifest` part, then a `payload` file part (curl -F, browsers);
 * - `application/octet-stream`: the body is the payload, the manifest is the base64 JSON of the
 *   `Upcat-Manifest` header and the file name the `fileName` query parameter. Nothing has to be
 *   scanned for a boundary, so it is the fast form, which `upcat publish --server` uses when the
 *   manifest fits in a header.
 */
export function readUploadBody(req: Request, limits: UploadLimits): UploadBody {
  const contentType = req.get('content-type') ?? '';
  if (/^application\/octet-stream\s*(;|$)/i.test(contentType)) return readRawUpload(req, limits);
  if (/^multipart\/form-data\s*;/i.test(contentType)) return readUploadForm(req, limits);
  throw invalidInput(
    'Content-Type: must be multipart/form-data (a "manifest" part then a "payload" file part) or application/octet-stream (with an Upcat-Manifest header)',
  );
}

/** Refuses a declared body that cannot fit before reading a byte of it. */
export function checkDeclaredLength(req: Request, limits: UploadLimits): void {
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

/** The raw form: everything is known from the head, and the body is the payload as it comes. */
function readRawUpload(req: Request, limits: UploadLimits): UploadBody {
  const encoded = req.get(MANIFEST_HEADER);
  if (encoded === undefined || encoded.trim() === '') {
    throw invalidInput(
      'Upcat-Manifest: required with Content-Type application/octet-stream (the manifest JSON, base64)',
      { field: 'manifest' },
    );
  }
  const text = encoded.trim();
  if (text.length % 4 !== 0 || !BASE64.test(text))
    throw invalidInput('Upcat-Manifest: not base64', { field: 'manifest' });
  const json = Buffer.from(text, 'base64');
  if (json.length > limits.maxManifestBytes) throw manifestTooLarge(limits);
  const manifest = parseManifestJson(json.toString('utf8'));
  const name = req.query['fileName'];
  if (typeof name !== 'string')
    throw invalidInput('fileName: one query parameter naming the payload file is required', {
      field: 'fileName',
    });
  const fileName = checkFileName(name, 'fileName');

  const complete = new Promise<void>((resolve, reject) => {
    req.once('end', () => resolve());
    req.once('error', (err) => reject(invalidInput(`upload interrupted: ${err.message}`)));
    req.once('close', () => {
      if (!req.complete)
        reject(invalidInput('the connection closed before the upload was complete'));
    });
  });
  complete.catch(() => undefined); // observed through the payload stream
  const source = gatedStream(req, complete);
  return {
    upload: Promise.resolve({ manifest, fileName, source }),
    abandon: (drain) => {
      source.destroy();
      if (drain) req.resume();
      else req.pause();
    },
  };
}

/**
 * Parses the form as it arrives. The manifest part must come first, so that the manifest can be
 * checked before the payload's bytes are stored; anything after the payload part, a truncated
 * form or a dropped connection makes the payload stream fail, so no publish commits.
 */
function readUploadForm(req: Request, limits: UploadLimits): UploadBody {
  let parser: busboy.Busboy;
  try {
    parser = busboy({
      headers: req.headers,
      // The raw name, so that a path is refused rather than silently cut to its last segment.
      preservePath: true,
      highWaterMark: PAYLOAD_HWM,
      fileHwm: PAYLOAD_HWM,
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
  done.catch(() => undefined); // observed through the payload stream, or not at all

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
        const fileName = checkFileName(info.filename, 'payload filename');
        resolveUpload({ manifest: await current, fileName, source: gatedStream(stream, done) });
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
    abandon: (drain) => {
      fail(new Error('upload abandoned'));
      req.off('data', count);
      req.unpipe(parser);
      if (drain) req.resume();
      else req.pause();
    },
  };
}

/**
 * `inner`'s bytes as a stream that ends only once `done` resolves (the whole body was read and
 * checked) and fails if it rejects. Destroying it (as the payload pool does after a failure)
 * detaches it from `inner`, which stays usable: the request's socket must still carry the answer.
 */
function gatedStream(inner: Readable, done: Promise<void>): Readable {
  const onData = (chunk: Buffer): void => {
    if (!out.push(chunk)) inner.pause();
  };
  const onEnd = (): void => {
    done.then(
      () => out.push(null),
      (err: Error) => out.destroy(err),
    );
  };
  const onError = (err: Error): void => {
    out.destroy(err);
  };
  const detach = (): void => {
    inner.off('data', onData);
    inner.off('end', onEnd);
    inner.off('error', onError);
  };
  const out = new Readable({
    highWaterMark: PAYLOAD_HWM,
    read: () => {
      inner.resume();
    },
    destroy: (err, callback) => {
      detach();
      callback(err);
    },
  });
  // A reader sees failures while it reads; one after it stopped (the body abandoned) is moot.
  out.on('error', () => undefined);
  inner.on('data', onData);
  inner.once('end', onEnd);
  inner.once('error', onError);
  done.catch((err: Error) => out.destroy(err));
  return out;
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
function checkFileName(name: string | undefined, field: string): string {
  if (name === undefined || name === '')
    throw invalidInput(`${field}: the payload needs a file name (e.g. curl -F payload=@build.zip)`);
  checkRelativePath(name, field);
  if (name.includes('/')) throw invalidInput(`${field}: "${name}" must not contain "/"`);
  return name;
}
