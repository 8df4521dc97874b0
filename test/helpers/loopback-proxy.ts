import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ProxiedRequest {
  method: string;
  path: string;
  /** The request's Range header, if any. */
  range: string | null;
  status: number | null;
  /** Response body bytes passed on to the client so far. */
  bytes: number;
}

export interface LoopbackProxy {
  url: string;
  /** Every request under /content/ (payloads and signatures), in arrival order. */
  readonly content: ProxiedRequest[];
  /** Bytes per second for payload bodies (`/content/<sha256>`); undefined: full speed. */
  rate: number | undefined;
  /** Resolves with the payload request once `bytes` of its body have reached the client. */
  whenForwarded(sha256: string, bytes: number, timeoutMs: number): Promise<ProxiedRequest>;
  close(): Promise<void>;
}

const PAYLOAD = /^\/content\/[0-9a-f]{64}$/;

/**
 * A pass-through HTTP proxy on 127.0.0.1 in front of `upstreamPort`, for tests that need to see
 * what an agent asks for (Range headers) and to slow payloads down enough to stop the server in
 * the middle of one. When the upstream fails or is gone, the client's connection is dropped, as
 * it would be by the server itself: the client sees a broken connection, never a proxy's 502.
 */
export async function startLoopbackProxy(upstreamPort: number): Promise<LoopbackProxy> {
  const content: ProxiedRequest[] = [];
  const proxy: LoopbackProxy = {
    url: '',
    content,
    rate: undefined,
    whenForwarded: (sha256, bytes, timeoutMs) =>
      poll(
        () => content.find((r) => r.path === `/content/${sha256}` && r.bytes >= bytes),
        timeoutMs,
        `${bytes} bytes of payload ${sha256} through the proxy`,
      ),
    close: async () => undefined,
  };
  const server = http.createServer((req, res) => {
    const entry: ProxiedRequest = {
      method: req.method ?? 'GET',
      path: req.url ?? '',
      range: req.headers.range ?? null,
      status: null,
      bytes: 0,
    };
    if (entry.path.startsWith('/content/')) content.push(entry);
    const up = http.request(
      {
        host: '127.0.0.1',
        port: upstreamPort,
        path: req.url,
        method: req.method,
        headers: req.headers,
        agent: false, // no pooled socket survives a server restart
      },
      (answer) => {
        entry.status = answer.statusCode ?? null;
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.on('error', () => res.destroy());
        forward(answer, res, entry, PAYLOAD.test(entry.path) ? () => proxy.rate : () => undefined);
      },
    );
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  proxy.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  proxy.close = () =>
    new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return proxy;
}

/** Copies a response body, at most `rate()` bytes per second when that is set. */
function forward(
  from: http.IncomingMessage,
  to: http.ServerResponse,
  entry: ProxiedRequest,
  rate: () => number | undefined,
): void {
  const start = Date.now();
  const resumeWhenDrained = (): void => {
    if (to.writableNeedDrain) to.once('drain', () => from.resume());
    else from.resume();
  };
  from.on('data', (chunk: Buffer) => {
    entry.bytes += chunk.length;
    to.write(chunk);
    const limit = rate();
    const ahead = limit === undefined ? 0 : (entry.bytes / limit) * 1000 - (Date.now() - start);
    if (ahead > 0) {
      from.pause();
      setTimeout(resumeWhenDrained, ahead);
    } else if (to.writableNeedDrain) {
      from.pause();
      resumeWhenDrained();
    }
  });
  from.on('end', () => to.end());
  to.on('close', () => from.destroy());
}

async function poll<T>(find: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const found = find();
    if (found !== undefined) return found;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * Passes one request on to `upstream` and its answer back, as a reverse proxy does; when the
 * upstream fails, the client's connection is dropped.
 */
export function forwardRequest(upstream: URL, req: IncomingMessage, res: ServerResponse): void {
  const up = http.request(
    {
      host: upstream.hostname,
      port: upstream.port,
      path: req.url,
      method: req.method,
      headers: req.headers,
    },
    (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    },
  );
  up.on('error', () => res.destroy());
  req.pipe(up);
}
