import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { errnoCode } from '../errors.js';

/** The TUF files that change in place; every other metadata name is versioned and immutable. */
export const MUTABLE_FILES = new Set(['timestamp.json', 'root.json']);

interface Entry {
  ino: number;
  size: number;
  mtimeMs: number;
  etag: string;
  body: Buffer;
  /** The turn of the event loop in which the file was last seen unchanged (MutableMetadata.load). */
  turn: number;
  /** Built once per version of the file: this path answers thousands of checks a second. */
  headers304: Record<string, string>;
  headers200: Record<string, string | number>;
}

/**
 * `timestamp.json` and `root.json`, served from memory: what every up-to-date client asks for on
 * every check (issue 3 item 3), so it must cost close to nothing. The bytes and a strong ETag (a
 * content hash) are cached; the file is re-checked by a stat once per turn of the event loop and
 * read again only when its inode, size or mtime changed (the repository writer renames it in).
 * Works on plain node:http objects so that the server can answer it before Express routing.
 */
export class MutableMetadata {
  private readonly cache = new Map<string, Entry>();
  /**
   * Which turn of the event loop this is, as far as the cache is concerned: moved on by an
   * immediate, which runs after the poll phase in which requests are read and answered.
   */
  private turn = 0;
  private turnEnding = false;

  constructor(private readonly dir: string) {}

  /** Answers a GET or HEAD for `file` (one of MUTABLE_FILES): 200, 304 or 404. */
  serve(req: IncomingMessage, res: ServerResponse, file: string): void {
    const entry = this.load(file);
    if (entry === undefined) {
      res.writeHead(404, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'not_found', message: `no TUF metadata ${file}` } }));
      return;
    }
    if (matches(req.headers['if-none-match'], entry.etag)) {
      res.writeHead(304, entry.headers304);
      res.end();
      return;
    }
    res.writeHead(200, entry.headers200);
    res.end(req.method === 'HEAD' ? undefined : entry.body);
  }

  /**
   * The file is stat'ed once per turn of the event loop, not once per request (the stat was ~10 %
   * of a 304's cost, issue 16). That is as fresh as a stat per request: every request answered in
   * this turn was read after the loop's poll returned, and the stat is made after that too, so a
   * rename that completed before a client sent its request is seen by that request.
   */
  private load(file: string): Entry | undefined {
    const hit = this.cache.get(file);
    if (hit !== undefined && hit.turn === this.turn) return hit;
    const entry = this.stat(file, hit);
    if (entry !== undefined) entry.turn = this.turn;
    if (!this.turnEnding) {
      this.turnEnding = true;
      setImmediate(() => {
        this.turn++;
        this.turnEnding = false;
      }).unref();
    }
    return entry;
  }

  private stat(file: string, hit: Entry | undefined): Entry | undefined {
    const full = path.join(this.dir, file);
    let st;
    try {
      st = statSync(full);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') {
        this.cache.delete(file);
        return undefined;
      }
      throw err;
    }
    if (
      hit !== undefined &&
      hit.ino === st.ino &&
      hit.size === st.size &&
      hit.mtimeMs === st.mtimeMs
    ) {
      return hit;
    }
    const body = readFileSync(full);
    const etag = `"${createHash('sha256').update(body).digest('hex').slice(0, 32)}"`;
    const headers304 = {
      ETag: etag,
      'Cache-Control': 'no-cache',
      'Content-Type': 'application/json',
      'X-Content-Type-Options': 'nosniff',
    };
    const headers200 = { ...headers304, 'Content-Length': body.length };
    const entry = {
      ...{ ino: st.ino, size: st.size, mtimeMs: st.mtimeMs, etag, body, turn: this.turn },
      headers304,
      headers200,
    };
    this.cache.set(file, entry);
    return entry;
  }
}

/** RFC 9110 §13.1.2: If-None-Match is `*` or a list of entity tags (weak comparison). */
function matches(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  if (header === etag) return true; // the common case: a client sends back exactly what it got
  if (header.trim() === '*') return true;
  return header.split(',').some((tag) => tag.trim().replace(/^W\//, '') === etag);
}

/**
 * Puts the in-place TUF files in front of a request handler (the Express app): an up-to-date
 * client's check is answered without routing, which costs several times more than the answer.
 * `answered`, when given, is told of each request answered here (for /metrics), with the
 * `performance.now()` at which it arrived.
 */
export function withMetadataFastPath(
  dir: string,
  next: (req: IncomingMessage, res: ServerResponse) => void,
  answered?: (req: IncomingMessage, res: ServerResponse, started: number) => void,
): (req: IncomingMessage, res: ServerResponse) => void {
  const metadata = new MutableMetadata(dir);
  return (req, res) => {
    const url = req.url ?? '';
    if ((req.method === 'GET' || req.method === 'HEAD') && url.startsWith('/tuf/')) {
      const file = url.slice('/tuf/'.length);
      if (MUTABLE_FILES.has(file)) {
        const started = answered === undefined ? 0 : performance.now();
        metadata.serve(req, res, file);
        answered?.(req, res, started);
        return;
      }
    }
    next(req, res);
  };
}
