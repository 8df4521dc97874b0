import path from 'node:path';
import type { NextFunction, Response } from 'express';
import { errorBody } from './middleware/errors.js';

/**
 * Sends a file that never changes under its name (a digest-named payload, versioned metadata):
 * cacheable for a year, with Range (206, 416) and conditional GET (304) answered by `send`, which
 * honours an ETag set here.
 */
export function sendImmutable(
  res: Response,
  next: NextFunction,
  file: string,
  etag: string | undefined,
  contentType = 'application/octet-stream',
): void {
  res.set({ 'Content-Type': contentType, 'X-Content-Type-Options': 'nosniff' });
  if (etag !== undefined) res.set('ETag', etag);
  res.sendFile(
    file,
    {
      maxAge: '365d',
      immutable: true,
      lastModified: false,
      etag: etag === undefined,
      acceptRanges: true,
      dotfiles: 'allow',
    },
    (err?: Error & { status?: number; headers?: Record<string, string> }) => {
      if (err === undefined || res.headersSent) return;
      if (err.status === 416) {
        res
          .status(416)
          .set(err.headers ?? {})
          .end();
      } else if (err.status === 404) {
        res.status(404).json(errorBody('not_found', `no ${path.basename(file)}`));
      } else {
        next(err);
      }
    },
  );
}
