import type http from 'node:http';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import { ForwardedConnection } from './front-forward.js';
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
 * One kind of request the front may answer (metadata-answer.ts, sync-answer.ts): the answer node:http's
 * own path would give, or undefined to leave the request, and the connection, to node:http. It
 * may throw: the request is then node:http's, whose path meets the same error.
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
 * complete simple GET (http1-simple-get.ts), it keeps reading the connection: the requests that
 * one of its answerers answers, it answers, with the same header fields node:http would send;
 * each other one it passes to node:http through a ForwardedConnection (front-forward.ts), a
 * stream node:http reads as the connection, and it reads nothing more until node:http's answer
 * has finished. So answers go out in the order of the requests, and a client that makes another
 * request first (an agent discovers the site, then syncs) still has its sync answered here. At
 * the first request that is not a complete simple GET (a body, a request cut across two reads,
 * HTTP/1.0, `Connection: close`), it hands the connection itself to node:http for good: the
 * bytes from that request on are put back on the socket, untouched, and node:http's connection
 * listener runs as if the connection had just been accepted. So node:http sees exactly what the
 * client sent, from a request boundary, and everything the front does not answer keeps
 * node:http's behaviour, limits and errors.
 *
 * Held connections (those still with the front) are idle between requests (each answer is
 * written before the next read, and a request passed on is read by node:http while the front
 * waits); they are closed after `server.headersTimeout` when no request comes first, after
 * `server.keepAliveTimeout` between requests, as node:http would, and by close().
 */
/** A connection the front reads. */
interface Held {
  /** When it is closed if no request comes (Infinity while node:http answers one passed on). */
  closesAt: number;
  /** The stream node:http reads the requests passed on from, once there has been one. */
  forwarded: ForwardedConnection | undefined;
  /** node:http is answering a request passed on; the front reads nothing until it is done. */
  inFlight: boolean;
  /** What was read after that request, read once it is done. */
  pending: Buffer | undefined;
  /** Takes the front's listeners off the socket: node:http reads it from now on. */
  release: () => void;
}

export class MetadataFront {
  /** Connections still read by the front. */
  private readonly held = new Map<Socket, Held>();
  private readonly sweep: NodeJS.Timeout;
  private closing = false;
  private date = '';
  private dateExpires = 0;
  /** node:http's connection listener, which the front calls for connections it hands over. */
  private readonly parse: (connection: Duplex) => void;

  constructor(
    private readonly server: http.Server,
    private readonly answerers: readonly FrontAnswerer[],
    private readonly answered?: FrontAnswered,
  ) {
    const listeners = server.listeners('connection');
    // A node:http server has exactly one, its own (node:_http_server's connectionListener).
    if (listeners.length !== 1) throw new Error('the metadata front needs a bare node:http server');
    this.parse = listeners[0] as (connection: Duplex) => void;
    server.removeListener('connection', this.parse);
    server.on('connection', (socket: Socket) => this.adopt(socket));
    // node:http's answer to a request the front passed on: the front reads on once it is done.
    server.prependListener('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
      const connection = req.socket;
      if (!(connection instanceof ForwardedConnection)) return;
      let done = false;
      const onDone = (): void => {
        if (done) return;
        done = true;
        this.forwardedDone(connection.real);
      };
      res.once('finish', onDone);
      res.once('close', onDone);
    });
    this.sweep = setInterval(() => this.closeIdle(), 1000);
    this.sweep.unref();
  }

  /** How many connections the front holds now (for tests). */
  get size(): number {
    return this.held.size;
  }

  /**
   * Stops taking connections: new ones go to node:http, held ones are closed (ended after what
   * was written to them is sent, if the client has not read it all yet; after node:http's answer,
   * for one waiting on it).
   */
  close(): void {
    this.closing = true;
    for (const [socket, conn] of this.held) {
      if (conn.inFlight) continue; // closed when node:http's answer is done (forwardedDone)
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
    const conn: Held = {
      closesAt: Date.now() + (this.server.headersTimeout || 60_000),
      forwarded: undefined,
      inFlight: false,
      pending: undefined,
      release: () => {
        this.held.delete(socket);
        socket.removeListener('data', onData);
        socket.removeListener('end', onEnd);
        socket.removeListener('error', onError);
        socket.removeListener('close', onClose);
      },
    };
    const onData = (chunk: Buffer): void => {
      // Read while node:http answers a request passed on (a read already under way when the
      // socket was paused): kept, read once that answer is done.
      if (conn.inFlight) {
        conn.pending = conn.pending === undefined ? chunk : Buffer.concat([conn.pending, chunk]);
        return;
      }
      this.take(socket, conn, chunk);
    };
    const onEnd = (): void => {
      // The client closed its side. Waiting on node:http: it is told, and does what it does with a
      // client's end on its own connections. Otherwise every answer is written: close ours.
      if (conn.inFlight && conn.forwarded !== undefined) conn.forwarded.pass(null);
      else socket.end();
    };
    const onError = (): void => {
      socket.destroy();
    };
    const onClose = (): void => {
      this.held.delete(socket);
      // node:http forgets a request it was answering here, as for any connection that closes.
      conn.forwarded?.destroy();
    };
    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('error', onError);
    socket.on('close', onClose);
    this.held.set(socket, conn);
  }

  /** What the connection sent, from a request boundary: answered, passed on, or handed over. */
  private take(socket: Socket, conn: Held, chunk: Buffer): void {
    // Once closing, node:http answers, and closes the connection after its answer.
    const { pos, unanswered } = this.closing
      ? { pos: 0, unanswered: undefined }
      : this.answerAll(socket, conn, chunk);
    if (pos === chunk.length) return;
    if (unanswered !== undefined) {
      this.forward(
        socket,
        conn,
        chunk.subarray(pos, unanswered.end),
        chunk.subarray(unanswered.end),
      );
      return;
    }
    // From the first request not read here on, node:http reads the connection. The bytes go back
    // to the front of the socket's buffer, and node:http's listener starts to read (adding its
    // 'data' listener resumes the stream on the next tick, before any new read).
    conn.release();
    conn.forwarded?.detach();
    socket.unshift(chunk.subarray(pos));
    this.parse.call(this.server, socket);
    // Paused while node:http answered a request passed on: a paused socket stays paused when a
    // reader is added, so node:http's reading is started here.
    if (socket.isPaused()) socket.resume();
  }

  /**
   * Passes one request the front read but does not answer to node:http, and reads nothing more
   * of the connection until node:http's answer is done (forwardedDone).
   */
  private forward(socket: Socket, conn: Held, request: Buffer, rest: Buffer): void {
    if (conn.forwarded === undefined) {
      conn.forwarded = new ForwardedConnection(socket);
      this.parse.call(this.server, conn.forwarded);
    }
    conn.inFlight = true;
    conn.pending = rest.length > 0 ? rest : undefined;
    // Not idle: node:http is answering (its own timeouts apply to the forwarded connection).
    conn.closesAt = Infinity;
    socket.pause();
    conn.forwarded.pass(request);
  }

  /** node:http has answered (or abandoned) the request passed on: read what came next. */
  private forwardedDone(socket: Socket): void {
    const conn = this.held.get(socket);
    if (conn?.inFlight !== true) return;
    conn.inFlight = false;
    if (socket.destroyed) return;
    if (this.closing) {
      conn.release();
      conn.forwarded?.detach();
      socket.end();
      return;
    }
    conn.closesAt = Date.now() + this.idleMs();
    const pending = conn.pending;
    conn.pending = undefined;
    if (pending !== undefined) this.take(socket, conn, pending);
    if (!conn.inFlight && this.held.has(socket) && socket.writableLength === 0) socket.resume();
    else if (!conn.inFlight && this.held.has(socket))
      socket.once('drain', () => {
        if (this.held.get(socket)?.inFlight === false) socket.resume();
      });
  }

  private idleMs(): number {
    return this.server.keepAliveTimeout || this.server.timeout || 60_000;
  }

  /**
   * Answers the requests at the start of `chunk` that it can. Returns how many bytes they took,
   * and the complete simple GET after them that no answerer answered, if that is what stopped it.
   */
  private answerAll(
    socket: Socket,
    conn: Held,
    chunk: Buffer,
  ): { pos: number; unanswered: SimpleGet | undefined } {
    const started = performance.now();
    const text = chunk.toString('latin1'); // one character a byte: offsets are byte offsets
    let pos = 0;
    let out = '';
    /** Set once a body is not ASCII: what was written so far, as bytes. */
    let parts: Buffer[] | undefined;
    const answers: FrontAnswer[] = [];
    let unanswered: SimpleGet | undefined;
    while (pos < text.length) {
      const request = readSimpleGet(text, pos);
      if (request === undefined) break;
      const answer = this.answerOrLeave(request);
      if (answer === undefined) {
        unanswered = request;
        break;
      }
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
    if (answers.length === 0) return { pos: 0, unanswered };
    const flushed =
      parts === undefined
        ? socket.write(out, 'latin1')
        : socket.write(Buffer.concat([...parts, Buffer.from(out, 'latin1')]));
    conn.closesAt = Date.now() + this.idleMs();
    if (this.answered !== undefined)
      for (const a of answers) this.answered('GET', a.route, a.code, started);
    // A client that sends faster than it reads its answers is read no further until it catches up.
    if (!flushed && pos === text.length) {
      socket.pause();
      socket.once('drain', () => {
        if (this.held.get(socket)?.inFlight === false) socket.resume();
      });
    }
    return { pos, unanswered };
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
    for (const [socket, conn] of this.held) if (conn.closesAt <= now) this.drop(socket);
  }

  /** Closes a held connection; it is no longer counted from now (its 'close' comes later). */
  private drop(socket: Socket): void {
    this.held.delete(socket);
    socket.destroy();
  }
}
