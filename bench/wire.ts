/**
 * A TCP proxy that counts the bytes both ways and, on request, records what went through it,
 * so that a benchmark can say which requests and which headers the bytes were (bench/agent-sync.ts).
 */
import net from 'node:net';

interface Connection {
  up: Buffer[];
  down: Buffer[];
}

export interface CountingProxy {
  port: number;
  /** Bytes both ways since the proxy started. */
  bytes(): number;
  /** Starts recording the traffic of every connection; `stop` returns it. */
  record(): { stop(): Connection[] };
  close(): void;
}

export async function countingProxy(port: number): Promise<CountingProxy> {
  let total = 0;
  let recording: Connection[] | undefined;
  const server = net.createServer((client) => {
    const upstream = net.connect(port, '127.0.0.1');
    let conn: Connection | undefined;
    const recorded = (): Connection | undefined => {
      if (recording === undefined) return undefined;
      if (conn === undefined || !recording.includes(conn)) {
        conn = { up: [], down: [] };
        recording.push(conn);
      }
      return conn;
    };
    client.on('data', (d: Buffer) => {
      total += d.length;
      recorded()?.up.push(d);
    });
    upstream.on('data', (d: Buffer) => {
      total += d.length;
      recorded()?.down.push(d);
    });
    client.pipe(upstream).pipe(client);
    const end = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end);
    upstream.on('error', end);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address() as net.AddressInfo;
  return {
    port: address.port,
    bytes: () => total,
    record: () => {
      recording = [];
      return {
        stop: () => {
          const out = recording ?? [];
          recording = undefined;
          return out;
        },
      };
    },
    close: () => server.close(),
  };
}

export interface HttpMessage {
  /** The request line or the status line. */
  startLine: string;
  headers: Array<[string, string]>;
  headBytes: number;
  bodyBytes: number;
}

/** The HTTP/1.1 messages in one direction of one connection (Content-Length or chunked bodies). */
export function httpMessages(chunks: Buffer[]): HttpMessage[] {
  const buf = Buffer.concat(chunks);
  const out: HttpMessage[] = [];
  let at = 0;
  while (at < buf.length) {
    const end = buf.indexOf('\r\n\r\n', at);
    if (end < 0) break;
    const lines = buf.subarray(at, end).toString('latin1').split('\r\n');
    const headers = lines.slice(1).map((l): [string, string] => {
      const colon = l.indexOf(':');
      return [l.slice(0, colon).toLowerCase(), l.slice(colon + 1).trim()];
    });
    const headBytes = end + 4 - at;
    at = end + 4;
    const length = headers.find(([k]) => k === 'content-length')?.[1];
    let bodyBytes = length === undefined ? 0 : Number(length);
    if (headers.some(([k, v]) => k === 'transfer-encoding' && /chunked/i.test(v))) {
      bodyBytes = chunkedLength(buf, at);
    }
    at += bodyBytes;
    out.push({ startLine: lines[0] ?? '', headers, headBytes, bodyBytes });
  }
  return out;
}

/** Bytes of a chunked body starting at `at`, framing included. */
function chunkedLength(buf: Buffer, at: number): number {
  let p = at;
  for (;;) {
    const eol = buf.indexOf('\r\n', p);
    if (eol < 0) return buf.length - at;
    const size = parseInt(buf.subarray(p, eol).toString('latin1'), 16);
    p = eol + 2 + size + 2;
    if (size === 0) {
      // Trailers, if any, end with an empty line; the common case has none.
      return p - at;
    }
  }
}

export interface Exchange {
  request: HttpMessage;
  response: HttpMessage | undefined;
}

/** Requests paired with their responses, connection by connection. */
export function exchanges(connections: Connection[]): Exchange[] {
  return connections.flatMap((c) => {
    const responses = httpMessages(c.down);
    return httpMessages(c.up).map((request, i) => ({ request, response: responses[i] }));
  });
}

/** One line per exchange: `GET /path -> 304: request 412 B (head 412), response 98 B`. */
export function describe(list: Exchange[]): string[] {
  return list.map(({ request, response }) => {
    const [method = '', target = ''] = request.startLine.split(' ');
    const pathOnly = target.replace(/\?.*$/, (q) => `?${q.length - 1} chars`);
    const status = response?.startLine.split(' ')[1] ?? '-';
    const req = request.headBytes + request.bodyBytes;
    const res = (response?.headBytes ?? 0) + (response?.bodyBytes ?? 0);
    return `${method} ${pathOnly} -> ${status}: request ${req} B (head ${request.headBytes}), response ${res} B (head ${response?.headBytes ?? 0})`;
  });
}
