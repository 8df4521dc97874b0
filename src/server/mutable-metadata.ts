import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { errnoCode } from '../errors.js';
import { DatabaseMetadataStore } from '../signing/tuf-store-db.js';
import { FileMetadataStore, type MetadataStore } from '../signing/tuf-store.js';

/** The TUF files that change in place; every other metadata name is versioned and immutable. */
export const MUTABLE_FILES = new Set(['timestamp.json', 'root.json']);

export interface Entry {
  /** What identifies this version of the file: inode, size and mtime, or the row's stamp. */
  stamp: string;
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
 * With the database store (issue 15 item 2) the bytes are the rows the store polls every
 * server.changePollMs, and the entry is rebuilt when a row's version changes.
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

  private readonly dir: string;
  private readonly db: DatabaseMetadataStore | undefined;
  /** Set once the database store has read its rows (the first requests wait for that). */
  private dbReady = false;

  constructor(source: string | MetadataStore) {
    if (source instanceof DatabaseMetadataStore) {
      this.db = source;
      this.dir = '';
      source.watch().then(
        () => (this.dbReady = true),
        () => undefined, // served requests wait for, and report, the poll themselves
      );
    } else {
      this.db = undefined;
      this.dir = typeof source === 'string' ? source : (source as FileMetadataStore).dir;
    }
  }

  /** Answers a GET or HEAD for `file` (one of MUTABLE_FILES): 200, 304 or 404. */
  serve(req: IncomingMessage, res: ServerResponse, file: string): void {
    const db = this.db;
    if (db !== undefined && !this.dbReady) {
      db.watch().then(
        () => {
          this.dbReady = true;
          this.serve(req, res, file);
        },
        () => {
          res.writeHead(503, { 'Content-Type': 'application/json', 'Retry-After': '1' });
          res.end(
            JSON.stringify({
              error: { code: 'unavailable', message: 'TUF metadata not read yet' },
            }),
          );
        },
      );
      return;
    }
    const entry = this.current(file);
    if (entry === undefined || entry === 'unread') {
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
   * The file's version that serve() answers with now: undefined when there is none, `unread`
   * while the database store has not read its rows yet (metadata-front.ts answers neither).
   */
  current(file: string): Entry | undefined | 'unread' {
    const db = this.db;
    if (db === undefined) return this.load(file);
    return this.dbReady ? this.fromRows(db, file) : 'unread';
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
    const stamp = `${st.ino}:${st.size}:${st.mtimeMs}`;
    if (hit !== undefined && hit.stamp === stamp) return hit;
    return this.remember(file, readFileSync(full), stamp);
  }

  /** The database store's current row: one entry per version of it. */
  private fromRows(db: DatabaseMetadataStore, file: string): Entry | undefined {
    const row = db.currentOf(file);
    if (row === undefined) {
      this.cache.delete(file);
      return undefined;
    }
    const hit = this.cache.get(file);
    return hit !== undefined && hit.stamp === row.stamp
      ? hit
      : this.remember(file, row.bytes, row.stamp);
  }

  private remember(file: string, body: Buffer, stamp: string): Entry {
    const etag = `"${createHash('sha256').update(body).digest('hex').slice(0, 32)}"`;
    const headers304 = {
      ETag: etag,
      'Cache-Control': 'no-cache',
      'Content-Type': 'application/json',
      'X-Content-Type-Options': 'nosniff',
    };
    const headers200 = { ...headers304, 'Content-Length': body.length };
    const entry = { stamp, etag, body, turn: this.turn, headers304, headers200 };
    this.cache.set(file, entry);
    return entry;
  }
}

/** RFC 9110 §13.1.2: If-None-Match is `*` or a list of entity tags (weak comparison). */
export function matches(header: string | undefined, etag: string): boolean {
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
  source: string | MetadataStore | MutableMetadata,
  next: (req: IncomingMessage, res: ServerResponse) => void,
  answered?: (req: IncomingMessage, res: ServerResponse, started: number) => void,
): (req: IncomingMessage, res: ServerResponse) => void {
  const metadata = source instanceof MutableMetadata ? source : new MutableMetadata(source);
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
