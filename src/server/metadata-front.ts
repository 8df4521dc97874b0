import type http from 'node:http';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { readSimpleGet, type SimpleGet } from './http1-simple-get.js';
import { MUTABLE_FILES, matches, type Entry, type MutableMetadata } from './mutable-metadata.js';

/** Told of each request answered here: what `ServerMetrics.answeredOnSocket` takes. */
export type FrontAnswered = (method: string, route: string, code: number, started: number) => void;

/**
 * An up-to-date client's check (a conditional GET of timestamp.json or root.json that is still
 * current) answered 304 on the connection itself, before node:http parses it (issue 16). Every
 * client asks this on every check, and node:http's own work per request (its request and
 * response objects, header handling) is most of the cost of the answer: on the round-ten
 * machines node:http by itself reached 0.46-0.78x nginx, below the 0.6x target on some.
 *
 * The front takes each new connection of one node:http server in place of node:http's own
 * connection listener, and reads what the client sends. While every request it reads is a
 * complete simple GET (http1-simple-get.ts) of one of those files with an If-None-Match that
 * matches, it answers them, with the same header fields node:http would send. At the first
 * request that is anything else (another path, a body, a request cut across two reads, a stale
 * ETag to be answered 200), it hands the connection to node:http for good: the bytes from that
 * request on are put back on the socket, untouched, and node:http's connection listener runs as
 * if the connection had just been accepted. So node:http sees exactly what the client sent, from
 * a request boundary, and everything but the 304 keeps node:http's behaviour, limits and errors.
 *
 * Held connections (those still with the front) are idle between requests by construction (each
 * answer is written before the next read); they are closed after `server.headersTimeout` when no
 * request comes first, after `server.keepAliveTimeout` between requests, as node:http would,
 * and by close().
 */
export class MetadataFront {
  /** Connections still read by the front, with when each is closed if no request comes. */
  private readonly held = new Map<Socket, number>();
  private readonly sweep: NodeJS.Timeout;
  private readonly heads = new WeakMap<Entry, string>();
  private closing = false;
  private date = '';
  private dateExpires = 0;
  /** node:http's connection listener, which the front calls for connections it hands over. */
  private readonly parse: (socket: Socket) => void;

  constructor(
    private readonly server: http.Server,
    private readonly metadata: MutableMetadata,
    private readonly answered?: FrontAnswered,
  ) {
    const listeners = server.listeners('connection');
    // A node:http server has exactly one, its own (node:_http_server's connectionListener).
    if (listeners.length !== 1) throw new Error('the metadata front needs a bare node:http server');
    this.parse = listeners[0] as (socket: Socket) => void;
    server.removeListener('connection', this.parse);
    server.on('connection', (socket: Socket) => this.adopt(socket));
    this.sweep = setInterval(() => this.closeIdle(), 1000);
    this.sweep.unref();
  }

  /** How many connections the front holds now (for tests). */
  get size(): number {
    return this.held.size;
  }

  /**
   * Stops taking connections: new ones go to node:http, held ones are closed (ended after what
   * was written to them is sent, if the client has not read it all yet).
   */
  close(): void {
    this.closing = true;
    for (const socket of this.held.keys()) {
      if (socket.writableLength === 0) this.drop(socket);
      else socket.end();
    }
  }

  /** Closes every held connection now: the end of a graceful shutdown's wait. */
  destroyAll(): void {
    for (const socket of this.held.keys()) this.drop(socket);
    clearInterval(this.sweep);
  }

  private adopt(socket: Socket): void {
    if (this.closing) {
      this.parse.call(this.server, socket);
      return;
    }
    const release = (): void => {
      this.held.delete(socket);
      socket.removeListener('data', onData);
      socket.removeListener('end', onEnd);
      socket.removeListener('error', onError);
      socket.removeListener('close', onClose);
    };
    const onData = (chunk: Buffer): void => {
      // Once closing, node:http answers, and closes the connection after its answer.
      const answered = this.closing ? 0 : this.answerAll(socket, chunk);
      if (answered === chunk.length) return;
      // From the first request not answered here on, node:http reads the connection. The bytes
      // go back to the front of the socket's buffer, and node:http's listener starts to read
      // (adding its 'data' listener resumes the stream on the next tick, before any new read).
      release();
      socket.unshift(chunk.subarray(answered));
      this.parse.call(this.server, socket);
    };
    // The client closed its side with nothing pending (every answer is written at once): close ours.
    const onEnd = (): void => {
      socket.end();
    };
    const onError = (): void => {
      socket.destroy();
    };
    const onClose = (): void => {
      this.held.delete(socket);
    };
    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('error', onError);
    socket.on('close', onClose);
    this.held.set(socket, Date.now() + (this.server.headersTimeout || 60_000));
  }

  /** Answers the requests at the start of `chunk` that it can; returns how many bytes they took. */
  private answerAll(socket: Socket, chunk: Buffer): number {
    const started = performance.now();
    const text = chunk.toString('latin1'); // one character a byte: offsets are byte offsets
    let pos = 0;
    let out = '';
    let count = 0;
    while (pos < text.length) {
      const request = readSimpleGet(text, pos);
      const head = request === undefined ? undefined : this.answerOrLeave(request);
      if (request === undefined || head === undefined) break;
      out += head;
      pos = request.end;
      count++;
    }
    if (count === 0) return 0;
    const flushed = socket.write(out, 'latin1');
    const idleMs = this.server.keepAliveTimeout || this.server.timeout || 60_000;
    this.held.set(socket, Date.now() + idleMs);
    if (this.answered !== undefined)
      for (let i = 0; i < count; i++) this.answered('GET', '/tuf/:file', 304, started);
    // A client that sends faster than it reads its answers is read no further until it catches up.
    if (!flushed && pos === text.length) {
      socket.pause();
      socket.once('drain', () => {
        if (this.held.has(socket)) socket.resume();
      });
    }
    return pos;
  }

  /**
   * answerOf, where a file that cannot be read (a stat or read failing other than ENOENT) leaves
   * the request to node:http, whose path meets the same error and answers it as before the front.
   */
  private answerOrLeave(request: SimpleGet): string | undefined {
    try {
      return this.answerOf(request);
    } catch {
      return undefined;
    }
  }

  /** The 304 for a request the front answers, or undefined when it is node:http's to answer. */
  private answerOf(request: SimpleGet): string | undefined {
    if (!request.target.startsWith('/tuf/')) return undefined;
    const file = request.target.slice('/tuf/'.length);
    if (!MUTABLE_FILES.has(file)) return undefined;
    const entry = this.metadata.current(file);
    if (entry === undefined || entry === 'unread' || !matches(request.ifNoneMatch, entry.etag))
      return undefined;
    return this.headOf(entry) + this.connectionFields();
  }

  /** The status line and the entry's own fields, as MutableMetadata.serve writes them. */
  private headOf(entry: Entry): string {
    let head = this.heads.get(entry);
    if (head === undefined) {
      head = 'HTTP/1.1 304 Not Modified\r\n';
      for (const [name, value] of Object.entries(entry.headers304)) head += `${name}: ${value}\r\n`;
      this.heads.set(entry, head);
    }
    return head;
  }

  /** The fields node:http adds to a keep-alive answer: Date (to the second), Connection, Keep-Alive. */
  private connectionFields(): string {
    const now = Date.now();
    if (now >= this.dateExpires) {
      this.date = new Date(now).toUTCString();
      this.dateExpires = now - (now % 1000) + 1000;
    }
    const keepAlive = this.server.keepAliveTimeout;
    return keepAlive > 0
      ? `Date: ${this.date}\r\nConnection: keep-alive\r\nKeep-Alive: timeout=${Math.floor(keepAlive / 1000)}\r\n\r\n`
      : `Date: ${this.date}\r\nConnection: keep-alive\r\n\r\n`;
  }

  private closeIdle(): void {
    const now = Date.now();
    for (const [socket, closesAt] of this.held) if (closesAt <= now) this.drop(socket);
  }

  /** Closes a held connection; it is no longer counted from now (its 'close' comes later). */
  private drop(socket: Socket): void {
    this.held.delete(socket);
    socket.destroy();
  }
}
