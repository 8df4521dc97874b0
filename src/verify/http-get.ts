import http from 'node:http';
import type Https from 'node:https';
import { UpcatError } from '../errors.js';
import { loadHttps } from '../https-client.js';
import { transportError } from './transport-error.js';

/**
 * GETs for `upcat verify` over kept-alive connections with node:http (issue 16). The verifier
 * asks for thousands of small files; undici's `fetch` (WHATWG streams, Headers, an AbortSignal
 * per request) was a quarter of its CPU per target. Connections are kept alive between requests
 * and per origin; idle ones do not hold the process open (the agent unrefs them).
 */
const AGENT_OPTIONS = { keepAlive: true, maxSockets: 16 };
const httpAgent = new http.Agent(AGENT_OPTIONS);
let httpsAgent: Https.Agent | undefined;
/** Redirects followed, as `fetch` does (a blob store may answer with a presigned URL). */
const MAX_REDIRECTS = 5;

/**
 * The body of a 2xx answer to a GET of `url`, read whole; over `maxBytes` (counted while
 * reading, never after) is a `too_large` error naming `what`; another status (in its
 * `details.status`), a transport error or the time limit (for the whole exchange) is an
 * `integrity` error naming the URL.
 */
export function getBounded(
  url: string,
  maxBytes: number,
  what: string,
  timeoutMs: number,
): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    let current: http.ClientRequest | undefined;
    let settled = false;
    const finish = (err: Error | undefined, body?: Buffer): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err !== undefined) {
        current?.destroy();
        reject(err);
      } else resolve(body as Buffer);
    };
    const timer = setTimeout(
      () => finish(new UpcatError('integrity', `${url}: no answer within ${timeoutMs} ms`)),
      timeoutMs,
    );
    const get = (target: URL, redirects: number): void => {
      const secure = target.protocol === 'https:';
      if (!secure && target.protocol !== 'http:') {
        finish(new UpcatError('integrity', `${url}: cannot fetch ${target.protocol} URLs`));
        return;
      }
      const onResponse = (res: http.IncomingMessage): void => {
        const status = res.statusCode ?? 0;
        const location = res.headers.location;
        if (status >= 300 && status < 400 && location !== undefined && status !== 304) {
          res.resume();
          if (redirects >= MAX_REDIRECTS) {
            finish(new UpcatError('integrity', `${url}: more than ${MAX_REDIRECTS} redirects`));
            return;
          }
          get(new URL(location, target), redirects + 1);
          return;
        }
        if (status < 200 || status > 299) {
          res.resume();
          finish(new UpcatError('integrity', `${url} answered ${status}`, { details: { status } }));
          return;
        }
        const chunks: Buffer[] = [];
        let total = 0;
        res.on('data', (chunk: Buffer) => {
          total += chunk.length;
          if (total > maxBytes) {
            finish(
              new UpcatError('too_large', `${what}: the site's answer is over ${maxBytes} bytes`),
            );
            res.destroy();
            return;
          }
          chunks.push(chunk);
        });
        res.on('end', () => finish(undefined, Buffer.concat(chunks, total)));
        res.on('error', (err) => finish(transportError(url, err)));
        res.on('close', () => {
          if (!res.complete) finish(transportError(url, new Error('the answer was cut off')));
        });
      };
      if (secure) {
        const https = loadHttps();
        httpsAgent ??= new https.Agent(AGENT_OPTIONS);
        current = https.get(target, { agent: httpsAgent }, onResponse);
      } else current = http.get(target, { agent: httpAgent }, onResponse);
      current.on('error', (err) => finish(transportError(url, err)));
    };
    let first: URL;
    try {
      first = new URL(url);
    } catch (err) {
      finish(transportError(url, err as Error));
      return;
    }
    get(first, 0);
  });
}
