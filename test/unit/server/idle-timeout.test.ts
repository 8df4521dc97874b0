import http from 'node:http';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import test from 'ava';
import { idleTimeoutOnClients } from '../../../src/server/serve.js';

/**
 * A server whose handler takes `workMs` before it answers `bytes` bytes (at once when 0, as the
 * fast paths do); `closed` resolves when the server's side of a connection closes.
 */
async function server(
  workMs: number,
  bytes: number,
): Promise<{ port: number; close: () => void; closed: Promise<void> }> {
  let socketClosed: () => void = () => undefined;
  const closed = new Promise<void>((resolve) => (socketClosed = resolve));
  const s = http.createServer((req, res) => {
    req.socket.once('close', socketClosed);
    const answer = () => res.end(Buffer.alloc(bytes, 0x61));
    if (workMs === 0) answer();
    else setTimeout(answer, workMs);
  });
  idleTimeoutOnClients(s, 300);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return {
    closed,
    port: (s.address() as AddressInfo).port,
    close: () => {
      s.closeAllConnections();
      s.close();
    },
  };
}

test.serial(
  'a request the server works on for longer than the idle timeout still gets its answer',
  async (t) => {
    const s = await server(1_200, 10);
    t.teardown(s.close);
    const res = await fetch(`http://127.0.0.1:${s.port}/`);
    t.is(res.status, 200);
    t.is(await res.text(), 'a'.repeat(10));
  },
);

test.serial(
  'a client that stops reading the answer is cut off after the idle timeout',
  async (t) => {
    const s = await server(0, 64 * 1024 * 1024);
    t.teardown(s.close);
    const socket = net.connect(s.port, '127.0.0.1');
    socket.on('error', () => undefined);
    socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    socket.once('data', () => socket.pause()); // read the first chunk, then never again
    // The server's side closes (a paused client would not even see it go).
    const outcome = await Promise.race([
      s.closed.then(() => 'closed'),
      new Promise((resolve) => setTimeout(() => resolve('still open'), 10_000)),
    ]);
    socket.destroy();
    t.is(outcome, 'closed', 'the stalled reader was disconnected');
  },
);
