import net from 'node:net';
import { UpcatError } from '../errors.js';
import { transportError } from './transport-error.js';

/**
 * Pipelined HTTP/1.1 GETs for `upcat verify` over plain http (issue 16). The verifier asks for
 * thousands of small files (a target, then a payload's `.p7s`); one request per write system
 * call on each side was the largest single cost of both processes (the client's socket writes a
 * quarter of its CPU, the server's `writev` a sixth of its). Here the requests made while the
 * process is busy are written together, several per write, on a few kept-alive connections, and
 * the server answers them in order (RFC 9112 §9.3.2), likewise several per write.
 *
 * Only the common answers are read here: a 2xx with a Content-Length within the caller's cap,
 * and a 4xx with one, which is the error `getBounded` gives for that status (tuf-js asks for the
 * next root on every run, and its 404 alone loaded node:http and node:https, issue 16).
 * Anything else (a redirect, a 5xx, which is worth asking again, a chunked or connection-
 * delimited body, a longer body, a connection that breaks) sends that request, and for a
 * connection that cannot go on every request still waiting on it, to `getBounded`, which asks
 * again with node:http and gives the answer or the error it always gave. GETs are safe to ask
 * twice. A connection that cannot be made at all fails its requests with node:http's error
 * (transport-error.ts) without asking again.
 */
const CONNECTIONS = 2;
/** The longest head read before giving up on a connection (node:http's default is 16 KiB). */
const MAX_HEAD_BYTES = 64 * 1024;

interface Pending {
  url: string;
  path: string;
  maxBytes: number;
  what: string;
  timeoutMs: number;
  resolve: (body: Buffer) => void;
  reject: (err: Error) => void;
}

/** Asked again with node:http, which reports the status, the redirect or the size as before. */
function fallBack(p: Pending): void {
  getBoundedLazily(p.url, p.maxBytes, p.what, p.timeoutMs).then(p.resolve, p.reject);
}

/** `getBounded`, whose module (node:http and node:https) is loaded at its first use only. */
async function getBoundedLazily(
  url: string,
  maxBytes: number,
  what: string,
  timeoutMs: number,
): Promise<Buffer> {
  const { getBounded } = await import('./http-get.js');
  return getBounded(url, maxBytes, what, timeoutMs);
}

class Connection {
  readonly socket: net.Socket;
  /** Written (or about to be), answered in this order. */
  readonly waiting: Pending[] = [];
  private unwritten: Pending[] = [];
  private flushing = false;
  /** What has arrived and is not read yet. */
  private chunks: Buffer[] = [];
  private bytes = 0;
  /** The head of the answer being read: its status and body length. */
  private head: { status: number; length: number; close: boolean } | undefined;
  private done = false;
  private connected = false;

  constructor(
    private readonly origin: Origin,
    timeoutMs: number,
  ) {
    this.socket = net.connect({ host: origin.hostname, port: origin.port });
    this.socket.setNoDelay(true);
    this.socket.setTimeout(timeoutMs);
    this.socket.on('connect', () => (this.connected = true));
    this.socket.on('data', (chunk: Buffer) => this.read(chunk));
    this.socket.on('error', (err) => (this.connected ? this.abandon() : this.unreachable(err)));
    this.socket.on('close', () => this.abandon());
    this.socket.on('timeout', () => this.timedOut(timeoutMs));
  }

  get load(): number {
    return this.waiting.length + this.unwritten.length;
  }

  get usable(): boolean {
    return !this.done;
  }

  add(p: Pending): void {
    if (this.load === 0) this.socket.ref();
    this.unwritten.push(p);
    if (this.flushing) return;
    this.flushing = true;
    // Once the callbacks of this turn of the event loop have asked what they will ask.
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.flushing = false;
    if (this.done || this.unwritten.length === 0) return;
    let text = '';
    for (const p of this.unwritten)
      text += `GET ${p.path} HTTP/1.1\r\nHost: ${this.origin.host}\r\nAccept: */*\r\n\r\n`;
    this.waiting.push(...this.unwritten);
    this.unwritten = [];
    this.socket.write(text, 'latin1');
  }

  private read(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.bytes += chunk.length;
    // A body arriving in many chunks is joined once, when it is whole.
    if (this.head !== undefined && this.bytes < this.head.length) return;
    let buf = this.chunks.length === 1 ? chunk : Buffer.concat(this.chunks, this.bytes);
    this.chunks = [];
    this.bytes = 0;
    while (!this.done) {
      if (this.head === undefined) {
        if (buf.length === 0) return;
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) {
          if (buf.length > MAX_HEAD_BYTES) this.abandon();
          else this.keep(buf);
          return;
        }
        const head = parseHead(buf.toString('latin1', 0, end));
        const first = this.waiting[0];
        if (head === undefined || first === undefined || head.length > first.maxBytes) {
          this.abandon(); // no length to find the next answer by, or one to read with a cap
          return;
        }
        this.head = head;
        buf = buf.subarray(end + 4);
      }
      const { status, length, close } = this.head;
      if (buf.length < length) {
        this.keep(buf);
        return;
      }
      const body = buf.subarray(0, length);
      buf = buf.subarray(length);
      this.head = undefined;
      const p = this.waiting.shift() as Pending;
      if (status >= 200 && status <= 299) p.resolve(body);
      else if (status >= 400 && status <= 499)
        // As getBounded words it: the caller (tuf-fetcher.ts) decides from the status.
        p.reject(
          new UpcatError('integrity', `${p.url} answered ${status}`, { details: { status } }),
        );
      else fallBack(p);
      if (close) this.abandon();
      else if (this.load === 0) this.socket.unref(); // idle: does not hold the process open
    }
  }

  private keep(buf: Buffer): void {
    this.chunks = [buf];
    this.bytes = buf.length;
  }

  private timedOut(timeoutMs: number): void {
    for (const p of this.close())
      p.reject(new UpcatError('integrity', `${p.url}: no answer within ${timeoutMs} ms`));
  }

  /**
   * The connection was never made (refused, no route, a name that does not resolve): node:http
   * would fail the same way, so every request waiting on it fails now with the error it would
   * give, and node:http is not loaded for nothing (issue 16: a verify against a server that is
   * down loaded it only to be refused again).
   */
  private unreachable(err: Error): void {
    for (const p of this.close()) p.reject(transportError(p.url, err));
  }

  /** The connection cannot go on: what it still owes is asked again over node:http. */
  abandon(): void {
    this.close().forEach(fallBack);
  }

  /** Closes the connection once: what it still owed then, or nothing when it was closed already. */
  private close(): Pending[] {
    if (this.done) return [];
    this.done = true;
    this.socket.destroy();
    this.origin.drop(this);
    const owed = [...this.waiting, ...this.unwritten];
    this.waiting.length = 0;
    this.unwritten = [];
    return owed;
  }
}

/** The status and body length of a head, or undefined when the body has no stated length. */
function parseHead(head: string): { status: number; length: number; close: boolean } | undefined {
  const status = Number(head.slice(9, 12));
  if (!head.startsWith('HTTP/1.1 ') || !Number.isInteger(status) || status < 200) return undefined;
  let length: number | undefined;
  let close = false;
  for (const line of head.split('\r\n').slice(1)) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (name === 'content-length') {
      if (length !== undefined || !/^\d{1,15}$/.test(value)) return undefined;
      length = Number(value);
    } else if (name === 'transfer-encoding') return undefined;
    else if (name === 'connection') close = value.toLowerCase().includes('close');
  }
  return length === undefined ? undefined : { status, length, close };
}

class Origin {
  private readonly connections: Connection[] = [];

  constructor(
    readonly hostname: string,
    readonly port: number,
    /** As the Host header gives it. */
    readonly host: string,
  ) {}

  send(p: Pending): void {
    let best: Connection | undefined;
    for (const c of this.connections) if (best === undefined || c.load < best.load) best = c;
    if (best === undefined || (best.load > 0 && this.connections.length < CONNECTIONS)) {
      best = new Connection(this, p.timeoutMs);
      this.connections.push(best);
    }
    best.add(p);
  }

  drop(c: Connection): void {
    const i = this.connections.indexOf(c);
    if (i >= 0) this.connections.splice(i, 1);
  }
}

const origins = new Map<string, Origin>();

/**
 * As `getBounded` (the body of a 2xx answer, `maxBytes` at most, within `timeoutMs`), pipelined
 * for http: URLs; https and anything unusual go through `getBounded` itself.
 */
export function pipelinedGet(
  url: string,
  maxBytes: number,
  what: string,
  timeoutMs: number,
): Promise<Buffer> {
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    return getBoundedLazily(url, maxBytes, what, timeoutMs);
  }
  if (target.protocol !== 'http:' || target.username !== '' || target.password !== '')
    return getBoundedLazily(url, maxBytes, what, timeoutMs);
  let origin = origins.get(target.host);
  if (origin === undefined) {
    const hostname = target.hostname.replace(/^\[(.*)\]$/, '$1');
    origin = new Origin(hostname, Number(target.port === '' ? 80 : target.port), target.host);
    origins.set(target.host, origin);
  }
  const path = `${target.pathname}${target.search}`;
  const o = origin;
  return new Promise<Buffer>((resolve, reject) =>
    o.send({ url, path, maxBytes, what, timeoutMs, resolve, reject }),
  );
}
