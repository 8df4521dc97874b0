import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import { readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../log.js';

/** Headers that belong to one connection (RFC 9110 §7.6.1), never forwarded. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
]);

/**
 * Public answers kept from the last time the upstream gave them, so that an agent's session
 * starts (it reads `/v1/site` first, docs/AGENT.md) while the upstream cannot be reached.
 */
const KEPT: ReadonlyMap<string, string> = new Map([
  ['/v1/site', 'site.json'],
  ['/pki/ca.pem', 'ca.pem'],
]);
const MAX_KEPT_BYTES = 1024 * 1024;

export interface PassThroughOptions {
  upstream: URL;
  /** Where the kept public answers live. */
  dir: string;
  /** Largest request body forwarded (413 above it). */
  maxBodyBytes: number;
  /** No answer from the upstream within this time ends the request (504). */
  timeoutMs: number;
  log: Logger;
}

/**
 * The client API passed through to the upstream (issue 15 item 5): registration, sync, status,
 * the fallback status point and the site's public certificate, so that the upstream stays the one
 * place that knows clients. Bodies are streamed both ways, a request body is cut at
 * `maxBodyBytes`, and the caller's address goes along in X-Forwarded-For (which the upstream
 * believes only when `server.trustedProxies` names the mirror).
 *
 * When the upstream cannot be reached: `/v1/site` and `/pki/ca.pem` are answered from the last
 * copy, and a sync that names an anchor gets 304 (nothing newer is known here; the agent keeps
 * its signed policy and installs from what the mirror holds). Everything else is 502.
 */
export function passThrough(
  opts: PassThroughOptions,
): (req: IncomingMessage, res: ServerResponse) => void {
  const client = opts.upstream.protocol === 'https:' ? https : http;
  return (req: IncomingMessage, res: ServerResponse): void => {
    const pathname = (req.url ?? '/').split('?')[0] ?? '/';
    const kept = req.method === 'GET' ? KEPT.get(pathname) : undefined;
    const headers: http.OutgoingHttpHeaders = {};
    for (const [name, value] of Object.entries(req.headers))
      if (!HOP_BY_HOP.has(name) && value !== undefined) headers[name] = value;
    const from = req.socket.remoteAddress ?? '';
    const prior = req.headers['x-forwarded-for'];
    headers['x-forwarded-for'] = prior === undefined ? from : `${String(prior)}, ${from}`;
    headers['x-forwarded-proto'] = 'http';
    if (kept !== undefined) delete headers['if-none-match']; // the whole answer, to keep it

    let done = false;
    const up = client.request(
      new URL(req.url ?? '/', opts.upstream),
      { method: req.method, headers, timeout: opts.timeoutMs },
      (answer) => {
        const out: http.OutgoingHttpHeaders = {};
        for (const [name, value] of Object.entries(answer.headers))
          if (!HOP_BY_HOP.has(name) && value !== undefined) out[name] = value;
        res.writeHead(answer.statusCode ?? 502, out);
        const chunks: Buffer[] = [];
        let size = 0;
        answer.on('data', (chunk: Buffer) => {
          if (
            kept !== undefined &&
            answer.statusCode === 200 &&
            size + chunk.length <= MAX_KEPT_BYTES
          )
            chunks.push(chunk);
          size += chunk.length;
        });
        answer.pipe(res);
        answer.on('end', () => {
          done = true;
          if (kept !== undefined && answer.statusCode === 200 && size <= MAX_KEPT_BYTES)
            void keep(path.join(opts.dir, kept), Buffer.concat(chunks)).catch((err: unknown) =>
              opts.log.warn({ err: (err as Error).message }, 'cannot keep an upstream answer'),
            );
        });
        answer.on('error', () => res.destroy());
      },
    );
    up.on('timeout', () => up.destroy(new Error('the upstream did not answer in time')));
    // The agent gave up: so does the request upstream.
    res.on('close', () => {
      if (!res.writableFinished) up.destroy();
    });
    up.on('error', (err) => {
      if (done || res.headersSent) {
        res.destroy();
        return;
      }
      done = true;
      opts.log.warn({ path: pathname, err: err.message }, 'upstream unreachable');
      void unreachable(req, res, pathname, kept, opts.dir, err.message);
    });

    let sent = 0;
    req.on('data', (chunk: Buffer) => {
      sent += chunk.length;
      if (sent > opts.maxBodyBytes && !done) {
        done = true;
        up.destroy();
        req.unpipe(up);
        res
          .writeHead(413, { 'content-type': 'application/json', connection: 'close' })
          .end(errorJson('too_large', `the request body is over ${opts.maxBodyBytes} bytes`));
      }
    });
    req.pipe(up);
  };
}

async function unreachable(
  req: IncomingMessage,
  res: ServerResponse,
  pathname: string,
  kept: string | undefined,
  dir: string,
  why: string,
): Promise<void> {
  const stale = { 'x-upcat-mirror': 'upstream-unreachable' };
  if (kept !== undefined) {
    const body = await readFile(path.join(dir, kept)).catch(() => undefined);
    if (body !== undefined) {
      const type = kept.endsWith('.json') ? 'application/json' : 'application/x-pem-file';
      res.writeHead(200, { ...stale, 'content-type': type, 'cache-control': 'no-cache' }).end(body);
      return;
    }
  }
  if (req.method === 'GET' && pathname === '/v1/sync' && /[?&]anchor=/.test(req.url ?? '')) {
    res.writeHead(304, stale).end();
    return;
  }
  res
    .writeHead(502, { ...stale, 'content-type': 'application/json' })
    .end(errorJson('internal', `the mirror cannot reach its upstream site: ${why}`));
}

async function keep(file: string, body: Buffer): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, body);
  await rename(tmp, file);
}

function errorJson(code: string, message: string): string {
  return JSON.stringify({ error: { code, message } });
}
