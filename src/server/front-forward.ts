import { Duplex } from 'node:stream';
import type { AddressInfo, Socket } from 'node:net';

/**
 * One connection's requests that the front (metadata-front.ts) does not answer itself but still
 * reads, handed to node:http one at a time as the bytes of a stream that node:http reads as if
 * it were the connection (node:http takes any Duplex as a connection: the 'connection' event of
 * http.Server). node:http's answer is written through to the real socket, in order: the front
 * sends nothing of its own on the connection until node:http's answer to the request it passed
 * on has finished. Closing and timing out go both ways: node:http ending or destroying this
 * stream ends or destroys the connection, unless the front has detached it first (when it hands
 * the connection itself to node:http).
 */
export class ForwardedConnection extends Duplex {
  private detached = false;
  private readonly relayTimeout = (): void => {
    this.emit('timeout');
  };

  constructor(readonly real: Socket) {
    // Each side ends on its own: node:http decides (httpAllowHalfOpen) what a client's end means.
    super({ allowHalfOpen: true });
    real.on('timeout', this.relayTimeout);
  }

  /** Ends this stream without touching the connection: node:http forgets it, the front keeps it. */
  detach(): void {
    this.detached = true;
    this.real.removeListener('timeout', this.relayTimeout);
    this.destroy();
  }

  /** A request (or the client's end, with null) for node:http to read. */
  pass(bytes: Buffer | null): void {
    this.push(bytes);
  }

  override _read(): void {
    // Bytes are pushed by the front, one request at a time; nothing to pull.
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (err?: Error) => void): void {
    if (this.real.destroyed) {
      done(new Error('the connection is closed'));
      return;
    }
    if (this.real.write(chunk)) done();
    else this.real.once('drain', () => done());
  }

  override _final(done: (err?: Error) => void): void {
    if (!this.detached) this.real.end();
    done();
  }

  override _destroy(err: Error | null, done: (err: Error | null) => void): void {
    this.real.removeListener('timeout', this.relayTimeout);
    if (!this.detached) this.real.destroy();
    done(err);
  }

  // What node:http and upcat's routes read off a connection, from the real one.
  get remoteAddress(): string | undefined {
    return this.real.remoteAddress;
  }
  get remotePort(): number | undefined {
    return this.real.remotePort;
  }
  get remoteFamily(): string | undefined {
    return this.real.remoteFamily;
  }
  get localAddress(): string | undefined {
    return this.real.localAddress;
  }
  get localPort(): number | undefined {
    return this.real.localPort;
  }
  get bytesRead(): number {
    return this.real.bytesRead;
  }
  get bytesWritten(): number {
    return this.real.bytesWritten;
  }
  address(): AddressInfo | object {
    return this.real.address();
  }
  setTimeout(ms: number, callback?: () => void): this {
    this.real.setTimeout(ms);
    if (callback !== undefined) this.once('timeout', callback);
    return this;
  }
  setNoDelay(noDelay?: boolean): this {
    this.real.setNoDelay(noDelay);
    return this;
  }
  setKeepAlive(enable?: boolean, delayMs?: number): this {
    this.real.setKeepAlive(enable, delayMs);
    return this;
  }
}
