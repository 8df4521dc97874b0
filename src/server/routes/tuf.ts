import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Request, Response, Router } from 'express';
import type { Site } from '../../app.js';
import { errnoCode } from '../../errors.js';
import { tufRepoDir } from '../../signing/tuf-repo.js';
import { errorBody } from '../middleware/errors.js';
import { sendImmutable } from '../send-immutable.js';

/** Files that change in place: clients revalidate them on every update check. */
const MUTABLE = new Set(['timestamp.json', 'root.json']);
/** Version-prefixed metadata (consistent snapshots, TUF spec §5.6.1): never changes once written. */
const VERSIONED = /^[1-9][0-9]*\.(root|targets|snapshot|bins-[0-9a-f]+)\.json$/;
/** Hash-prefixed target file names (TUF spec §5.7.3): `<sha256>.<name>`. */
const HASHED_TARGET = /^([0-9a-f]{64})\.[A-Za-z0-9._~@+=-]+$/;
const SEGMENT = /^[A-Za-z0-9_~@+=-][A-Za-z0-9._~@+=-]*$/;

interface Cached {
  ino: number;
  size: number;
  mtimeMs: number;
  etag: string;
  body: Buffer;
}

/**
 * `/tuf/...` (DESIGN.md §5, issue 3 item 3): the TUF repository of the catalog.
 *
 * - `timestamp.json` and `root.json`: strong ETag (content hash), `no-cache`, 304 on a matching
 *   If-None-Match; the bytes are cached in memory and revalidated by one stat() per request, so
 *   an up-to-date client's check costs no read and no hash.
 * - `N.<role>.json`: immutable, cacheable for a year (a mirror or CDN can keep them forever).
 * - `targets/<dir>/<sha256>.<name>`: the target's bytes from the content pool, by digest. The
 *   name cannot make a client accept other bytes: the client checks length and hashes.
 */
export function tufRoutes(router: Router, site: Pick<Site, 'config' | 'pool'>): void {
  const dir = tufRepoDir(site.config.dirs.catalog);
  const cache = new Map<string, Cached>();

  router.get('/tuf/targets/*path', (req, res, next) => {
    const segments = (req.params as { path?: string[] }).path ?? [];
    const base = segments[segments.length - 1] ?? '';
    const match = HASHED_TARGET.exec(base);
    if (match === null || !segments.every((s) => SEGMENT.test(s))) {
      res.status(404).json(errorBody('not_found', 'targets are served by hash-prefixed name'));
      return;
    }
    sendImmutable(res, next, site.pool.pathOf(match[1] as string), `"${match[1]}"`);
  });

  router.get('/tuf/:file', async (req, res, next) => {
    const file = req.params.file;
    try {
      if (MUTABLE.has(file)) {
        await sendMutable(req, res, path.join(dir, file), cache);
      } else if (VERSIONED.test(file)) {
        sendImmutable(res, next, path.join(dir, file), undefined, 'application/json');
      } else {
        res.status(404).json(errorBody('not_found', `no TUF metadata ${file}`));
      }
    } catch (err) {
      next(err);
    }
  });
}

async function sendMutable(
  req: Request,
  res: Response,
  file: string,
  cache: Map<string, Cached>,
): Promise<void> {
  const entry = await load(file, cache);
  if (entry === undefined) {
    res.status(404).json(errorBody('not_found', `no TUF metadata ${path.basename(file)}`));
    return;
  }
  res.set({
    ETag: entry.etag,
    'Cache-Control': 'no-cache',
    'Content-Type': 'application/json',
    'X-Content-Type-Options': 'nosniff',
  });
  if (matches(req.get('if-none-match'), entry.etag)) {
    res.status(304).end();
    return;
  }
  res.status(200).end(req.method === 'HEAD' ? undefined : entry.body);
}

/** The file's bytes and ETag, re-read only when its inode, size or mtime changed (a rename). */
async function load(file: string, cache: Map<string, Cached>): Promise<Cached | undefined> {
  let st;
  try {
    st = await stat(file);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw err;
  }
  const hit = cache.get(file);
  if (
    hit !== undefined &&
    hit.ino === st.ino &&
    hit.size === st.size &&
    hit.mtimeMs === st.mtimeMs
  ) {
    return hit;
  }
  const body = await readFile(file);
  const etag = `"${createHash('sha256').update(body).digest('hex').slice(0, 32)}"`;
  const entry = { ino: st.ino, size: st.size, mtimeMs: st.mtimeMs, etag, body };
  cache.set(file, entry);
  return entry;
}

/** RFC 9110 §13.1.2: If-None-Match is `*` or a list of entity tags (weak comparison). */
function matches(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  if (header.trim() === '*') return true;
  return header.split(',').some((tag) => tag.trim().replace(/^W\//, '') === etag);
}
