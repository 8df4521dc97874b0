import { pipeline } from 'node:stream/promises';
import type { NextFunction, Request, Response } from 'express';
import type { BlobRef, BlobStore, ByteRange } from '../storage/blobs/store.js';
import { errorBody } from './middleware/errors.js';
import { sendImmutable } from './send-immutable.js';

/**
 * Answers GET/HEAD for a stored blob whatever the store (issue 15 item 1): a local file through
 * `send`; a redirect (302) to a presigned or CDN URL; or the object proxied from the store with
 * the same contract as a file: strong ETag, 304 on a matching If-None-Match, one Range (206, 416)
 * per RFC 9110 §14, immutable caching.
 */
export async function sendBlob(
  req: Request,
  res: Response,
  next: NextFunction,
  store: BlobStore,
  ref: BlobRef,
  options: { etag?: string; contentType?: string } = {},
): Promise<void> {
  const contentType = options.contentType ?? 'application/octet-stream';
  let source;
  try {
    source = await store.source(ref);
  } catch (err) {
    next(err);
    return;
  }
  if (source === undefined) {
    res.status(404).json(errorBody('not_found', `no ${ref.kind} ${ref.sha256}`));
    return;
  }
  if (source.type === 'file') {
    sendImmutable(res, next, source.path, options.etag, contentType);
    return;
  }
  if (source.type === 'redirect') {
    // The presigned URL expires: neither the redirect nor its target may be cached for long.
    res.set('Cache-Control', 'no-store').redirect(302, source.url);
    return;
  }
  const etag = options.etag ?? source.etag;
  res.set({
    'Content-Type': contentType,
    'X-Content-Type-Options': 'nosniff',
    'Cache-Control': 'public, max-age=31536000, immutable',
    'Accept-Ranges': 'bytes',
  });
  if (etag !== undefined) res.set('ETag', etag);
  if (etag !== undefined && matchesEtag(req.get('If-None-Match'), etag)) {
    res.status(304).end();
    return;
  }
  const ifRange = req.get('If-Range');
  const rangeHeader = ifRange === undefined || ifRange === etag ? req.get('Range') : undefined;
  const range = rangeHeader === undefined ? undefined : parseRange(rangeHeader, source.size);
  if (range === 'unsatisfiable') {
    res.status(416).set('Content-Range', `bytes */${source.size}`).end();
    return;
  }
  if (range !== undefined) {
    res.status(206).set('Content-Range', `bytes ${range.start}-${range.end}/${source.size}`);
  }
  const length = range === undefined ? source.size : range.end - range.start + 1;
  res.set('Content-Length', String(length));
  if (req.method === 'HEAD' || length === 0) {
    res.end();
    return;
  }
  try {
    await pipeline(await source.open(range), res);
  } catch (err) {
    if (!res.headersSent) next(err);
    else res.destroy();
  }
}

/** A payload by digest: its digest is its strong ETag. */
export function sendPayload(
  req: Request,
  res: Response,
  next: NextFunction,
  store: BlobStore,
  sha256: string,
): Promise<void> {
  return sendBlob(req, res, next, store, { sha256, kind: 'payload' }, { etag: `"${sha256}"` });
}

function matchesEtag(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  if (header.trim() === '*') return true;
  return header.split(',').some((t) => t.trim().replace(/^W\//, '') === etag);
}

/**
 * One `bytes=` range against `size`; undefined (send the whole) for anything else, including
 * several ranges, which a server may answer with the whole representation (RFC 9110 §14.2).
 */
export function parseRange(header: string, size: number): ByteRange | 'unsatisfiable' | undefined {
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (m === null || (m[1] === '' && m[2] === '')) return undefined;
  let start: number;
  let end: number;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0) return 'unsatisfiable';
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
    if (m[2] !== '' && Number(m[2]) < start) return undefined;
  }
  if (start >= size) return 'unsatisfiable';
  return { start, end };
}
