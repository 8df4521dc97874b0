import type http from 'node:http';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { readSimpleGet, type SimpleGet } from './http1-simple-get.js';

/** Told of each request answered here: what `ServerMetrics.answeredOnSocket` takes. */
export type FrontAnswered = (method: string, route: string, code: number, started: number) => void;

/**
 * What the front writes for a request it answers: the status line and the answer's own header
 * fields, each line ending in CRLF (the front adds Date and the connection fields after them, as
 * node:http does), and the body, if any, as UTF-8 text.
 */
export interface FrontAnswer {
  /** The route template Express would have matched, for /metrics. */
  route: string;
  code: number;
  head: string;
  body?: string;
}

/**
 * One kind of request the front may answer (metadata-answer.ts, sync-answer.ts): the answer
 * node:http's own path would give, or undefined to leave the request, and the connection, to
 * node:http. It may throw: the request is then node:http's, whose path meets the same error.
 */
export type FrontAnswerer = (request: SimpleGet) => FrontAnswer | undefined;

/**
 * The commonest requests answered on the connection itself, before node:http parses them (issue
 * 16): an up-to-date client's check (a conditional GET of timestamp.json or root.json that is
 * still current, metadata-answer.ts) and a sync the sync fast path answers from memory
 * (sync-answer.ts). Every client makes these on every cycle, and node:http's own work per
 * request (its request and response objects, header handling) is most of the cost of such an
 * answer: on the round-ten machines node:http by itself reached 0.46-0.78x nginx on the check,
 * below the 0.6x target on some, and it was a fifth of a worker's time in a nothing-new sync.
 *
 * The front takes each new connection of one node:http server in place of node:http's own
 * connection listener, and reads what the client sends. While every request it reads is a
 * complete simple GET (http1-simple-get.ts) that one of its answerers answers, it writes those
 * answers, with the same header fields node:http would send. At the first request that is
 * anything else (another path, a body, a request cut across two reads, a stale ETag to be
 * answered 200, a sync the fast path leaves to the database), it hands the connection to
 * node:http for good: the bytes from that request on are put back on the socket, untouched, and
 * node:http's connection listener runs as if the connection had just been accepted. So node:http
 * sees exactly what the client sent, from a request boundary, and everything the front does not
 * answer keeps node:http's behaviour, limits and errors.
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
  private closing = false;
  private date = '';
  private dateExpires = 0;
  /** node:http's connection listener, which the front calls for connections it hands over. */
  private readonly parse: (socket: Socket) => void;

  constructor(
    private readonly server: http.Server,
    private readonly answerers: readonly FrontAnswerer[],
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
    /** Set once a body is not ASCII: what was written so far, as bytes. */
    let parts: Buffer[] | undefined;
    const answers: FrontAnswer[] = [];
    while (pos < text.length) {
      const request = readSimpleGet(text, pos);
      const answer = request === undefined ? undefined : this.answerOrLeave(request);
      if (request === undefined || answer === undefined) break;
      out += answer.head + this.connectionFields();
      const body = answer.body;
      if (body !== undefined) {
        if (Buffer.byteLength(body) === body.length) out += body;
        else {
          parts ??= [];
          parts.push(Buffer.from(out, 'latin1'), Buffer.from(body, 'utf8'));
          out = '';
        }
      }
      pos = request.end;
      answers.push(answer);
    }
    if (answers.length === 0) return 0;
    const flushed =
      parts === undefined
        ? socket.write(out, 'latin1')
        : socket.write(Buffer.concat([...parts, Buffer.from(out, 'latin1')]));
    const idleMs = this.server.keepAliveTimeout || this.server.timeout || 60_000;
    this.held.set(socket, Date.now() + idleMs);
    if (this.answered !== undefined)
      for (const a of answers) this.answered('GET', a.route, a.code, started);
    // A client that sends faster than it reads its answers is read no further until it catches up.
    if (!flushed && pos === text.length) {
      socket.pause();
      socket.once('drain', () => {
        if (this.held.has(socket)) socket.resume();
      });
    }
    return pos;
  }

  /** The first answerer's answer; none (node:http's to answer) when one throws. */
  private answerOrLeave(request: SimpleGet): FrontAnswer | undefined {
    try {
      for (const answerer of this.answerers) {
        const answer = answerer(request);
        if (answer !== undefined) return answer;
      }
      return undefined;
    } catch {
      return undefined;
    }
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
