import path from 'node:path';
import express, { type NextFunction, type Request, type Response } from 'express';
import { isUpcatError } from '../errors.js';
import type { Logger } from '../log.js';
import { errorBody } from '../server/middleware/errors.js';
import { sendImmutable } from '../server/send-immutable.js';
import type { CacheHold } from './payload-cache.js';
import type { Expected, LiveSink } from './payload-fetch.js';
import type { SignedTarget } from './tuf-mirror.js';

/** Consistent-snapshot metadata names (TUF spec §5.6.1), as the site serves them. */
const VERSIONED = /^[1-9][0-9]*\.(root|targets|snapshot|bins-[0-9a-f]+)\.json$/;
const HASHED_TARGET = /^([0-9a-f]{64})\.[A-Za-z0-9._~@+=-]+$/;
const SEGMENT = /^[A-Za-z0-9_~@+=-][A-Za-z0-9._~@+=-]*$/;
const CONTENT_NAME = /^([0-9a-f]{64})(\.p7s)?$/;
/** A payload's detached CMS signature is small; the agent checks it against the site CA. */
export const MAX_SIGNATURE_BYTES = 1024 * 1024;

/** What the routes need from the mirror (mirror.ts). */
export interface MirrorPorts {
  servedDir: string;
  /** A target of the catalog served, by SHA-256. */
  target(sha256: string): SignedTarget | undefined;
  /** A hold on the cached file, fetched from the upstream at `upstreamPath` when missing. */
  cached(expected: Expected, upstreamPath: string, live?: LiveSink): Promise<CacheHold>;
  status(): unknown;
  /** The client API, passed through to the upstream. */
  passThrough(req: Request, res: Response): void;
  log: Logger;
}

/**
 * The mirror's HTTP surface (issue 15 item 5): the site's read-only paths (`/tuf/*`,
 * `/content/*`) from the mirror's verified copy and cache, the client API passed through, and
 * `/mirror/v1/status`. Nothing else of the site (no admin API, no console) is reachable here.
 */
export function mirrorApp(ports: MirrorPorts): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  app.get('/mirror/v1/status', (_req, res) => {
    res.json(ports.status());
  });

  app.get('/tuf/targets/*path', (req, res, next) => {
    const segments = (req.params as { path?: string[] }).path ?? [];
    const match = HASHED_TARGET.exec(segments[segments.length - 1] ?? '');
    const target = match === null ? undefined : ports.target(match[1] as string);
    if (match === null || target === undefined || !segments.every((s) => SEGMENT.test(s))) {
      notFound(res, 'no such target in the signed catalog this mirror serves');
      return;
    }
    const sha256 = match[1] as string;
    const expected = { name: sha256, sha256, maxBytes: target.length, length: target.length };
    serveCached(ports, expected, `/tuf/targets/${segments.join('/')}`, req, res, next);
  });

  app.get('/tuf/:file', (req, res, next) => {
    const file = req.params.file;
    const dir = ports.servedDir;
    if (file === 'timestamp.json' || file === 'root.json') {
      // The current pointers change at each refresh: revalidated every time (304 on a match).
      res.set({ 'Content-Type': 'application/json', 'X-Content-Type-Options': 'nosniff' });
      res.sendFile(path.join(dir, file), { maxAge: 0, lastModified: false, etag: true }, (err) => {
        if (err !== undefined && !res.headersSent) notFound(res, 'the mirror has no metadata yet');
      });
    } else if (VERSIONED.test(file)) {
      sendImmutable(res, next, path.join(dir, file), undefined, 'application/json');
    } else {
      notFound(res, `no TUF metadata ${file}`);
    }
  });

  app.get('/content/:name', (req, res, next) => {
    const match = CONTENT_NAME.exec(req.params.name.toLowerCase());
    const sha256 = match?.[1];
    const target = sha256 === undefined ? undefined : ports.target(sha256);
    if (sha256 === undefined || target === undefined) {
      notFound(res, 'no such payload in the signed catalog this mirror serves');
      return;
    }
    const expected: Expected =
      match?.[2] === undefined
        ? { name: sha256, sha256, maxBytes: target.length, length: target.length }
        : { name: `${sha256}.p7s`, maxBytes: MAX_SIGNATURE_BYTES };
    serveCached(ports, expected, `/content/${expected.name}`, req, res, next);
  });

  const passThrough = (req: Request, res: Response): void => ports.passThrough(req, res);
  app.get('/v1/site', passThrough);
  app.post('/v1/clients', passThrough);
  app.get('/v1/clients/:clientId/certificate', passThrough);
  app.get('/v1/sync', passThrough);
  app.post('/v1/status', passThrough);
  app.post('/fsp/v1/status', passThrough);
  app.get('/pki/ca.pem', passThrough);
  app.get('/pki/crl', passThrough);

  app.use((req: Request, res: Response) => {
    notFound(res, `a mirror does not serve ${req.method} ${req.path}`);
  });
  return app;
}

/** A response that falls this far behind the upstream is cut: it resumes from the cache. */
const MAX_LIVE_BUFFER = 8 * 1024 * 1024;

function serveCached(
  ports: MirrorPorts,
  expected: Expected,
  upstreamPath: string,
  req: Request,
  res: Response,
  next: NextFunction,
): void {
  const etag = expected.sha256 === undefined ? undefined : `"${expected.sha256}"`;
  const type = expected.name.endsWith('.p7s')
    ? 'application/pkcs7-signature'
    : 'application/octet-stream';
  // A whole-file GET that starts a fetch is answered as the bytes arrive (Range and HEAD wait
  // for the cache, which answers them as the site does).
  const live =
    req.method === 'GET' && req.headers.range === undefined && expected.length !== undefined
      ? liveSink(res, { etag, type, length: expected.length })
      : undefined;
  ports.cached(expected, upstreamPath, live).then(
    (hold) => {
      if (live?.used === true) {
        hold.release();
        res.end();
        return;
      }
      res.on('close', () => hold.release());
      sendImmutable(res, next, hold.file, etag, type);
    },
    (err: unknown) => {
      ports.log.warn(
        { path: upstreamPath, err: (err as Error).message },
        'cannot serve from cache',
      );
      if (res.headersSent) {
        res.destroy();
        return;
      }
      const code = isUpcatError(err) ? err.code : 'internal';
      // 404 only when the upstream said so; anything else is the mirror failing (a gateway error).
      res
        .status(code === 'not_found' ? 404 : 502)
        .json(errorBody(code === 'not_found' ? 'not_found' : 'internal', (err as Error).message));
    },
  );
}

function liveSink(
  res: Response,
  head: { etag: string | undefined; type: string; length: number },
): LiveSink {
  const sink: LiveSink = {
    used: false,
    write: (chunk) => {
      if (res.destroyed) return;
      if (!res.headersSent)
        res.writeHead(200, {
          'Content-Type': head.type,
          'Content-Length': String(head.length),
          'X-Content-Type-Options': 'nosniff',
          'Cache-Control': 'public, max-age=31536000, immutable',
          ...(head.etag === undefined ? {} : { ETag: head.etag }),
        });
      res.write(chunk);
      if (res.writableLength > MAX_LIVE_BUFFER) res.destroy();
    },
  };
  return sink;
}

function notFound(res: Response, message: string): void {
  res.status(404).json(errorBody('not_found', message));
}
