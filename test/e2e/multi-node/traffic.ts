import { createHash, randomUUID } from 'node:crypto';
import http from 'node:http';
import type { PublishAnswer } from '../../../src/publish/publish-service.js';
import { fileManifest } from '../../helpers/publish.js';
import { uploadForm } from '../../helpers/upload.js';

/** What an operator's pipeline sends (issue 15 item 4): publishes and approvals over HTTP. */

export function manifestFor(name: string): Record<string, unknown> {
  return fileManifest(`${name}.bin`, { title: name, product: name, version: '1.0' });
}

/**
 * A balancer answers 502 when the node it picked has just died with the request on a kept-alive
 * connection (nginx does not pass a POST already sent to the next node), and a transport error
 * can end a request the same way: a pipeline retries those. Publishes carry an Idempotency-Key,
 * so a retry of one that did land gets its first answer, not a second update.
 */
const RETRYABLE = new Set([502, 503, 504]);
const ATTEMPTS = 4;

async function retried(
  what: string,
  send: () => Promise<Response>,
  expected: number,
): Promise<string> {
  let last = '';
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    let res: Response;
    try {
      res = await send();
    } catch (err) {
      last = `transport error: ${(err as Error).message}`;
      await new Promise((r) => setTimeout(r, 250 * attempt));
      continue;
    }
    const text = await res.text();
    if (res.status === expected) return text;
    last = `${res.status} ${text}`;
    // 409: the same Idempotency-Key is still running on another node.
    if (!RETRYABLE.has(res.status) && res.status !== 409) break;
    await new Promise((r) => setTimeout(r, 250 * attempt));
  }
  throw new Error(`${what}: ${last}`);
}

/** POST /v1/updates; the answer on 201, else throws with the status and body. */
export async function publishOver(
  base: string,
  token: string,
  name: string,
  payload: Buffer,
): Promise<PublishAnswer> {
  const form = uploadForm(manifestFor(name), payload, `${name}.bin`);
  const key = `publish-${name}-${randomUUID()}`;
  const text = await retried(
    `publish ${name}`,
    () =>
      fetch(`${base}/v1/updates`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': form.contentType,
          'idempotency-key': key,
        },
        body: form.body,
        signal: AbortSignal.timeout(120_000),
      }),
    201,
  );
  return JSON.parse(text) as PublishAnswer;
}

export async function approveOver(base: string, token: string, updateId: string): Promise<void> {
  await retried(
    `approve ${updateId}`,
    () =>
      fetch(`${base}/v1/deployments`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ updateId, group: 'All Computers', action: 'install' }),
        signal: AbortSignal.timeout(60_000),
      }),
    201,
  );
}

/**
 * A publish whose body keeps coming: `whenInside` runs once `insideBytes` of the payload have
 * been taken by the node (the socket drained them), with the upload still open. Resolves with
 * the status, or `undefined` when the connection died first.
 */
export function publishInterrupted(
  base: string,
  token: string,
  name: string,
  insideBytes: number,
  whenInside: () => Promise<void>,
): Promise<number | undefined> {
  const chunk = Buffer.alloc(1 << 20, 7);
  const form = uploadForm(manifestFor(name), Buffer.alloc(0), `${name}.bin`);
  return new Promise((resolve, reject) => {
    const req = http.request(`${base}/v1/updates`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': form.contentType },
    });
    req.on('response', (res) => {
      res.resume();
      resolve(res.statusCode);
    });
    req.on('error', () => resolve(undefined));
    req.write(form.head);
    let sent = 0;
    const more = (): void => {
      while (sent < insideBytes) {
        sent += chunk.length;
        if (!req.write(chunk)) {
          req.once('drain', more);
          return;
        }
      }
      // A failed kill fails the test here, not later as an unhandled rejection.
      whenInside().catch(reject);
    };
    more();
  });
}

/**
 * GET /content/<sha256> from one node, held after its first chunk while `whenStarted` runs;
 * then reads on. The bytes received and whether the answer was whole.
 */
export function downloadInterrupted(
  base: string,
  sha256: string,
  whenStarted: () => Promise<void>,
): Promise<{ received: number; whole: boolean; status: number | undefined }> {
  return new Promise((resolve, reject) => {
    let received = 0;
    let status: number | undefined;
    const hash = createHash('sha256');
    let settled = false;
    const done = (): void => {
      if (settled) return;
      settled = true;
      const whole = hash.digest('hex') === sha256;
      resolve({ received, whole, status });
    };
    const req = http.get(`${base}/content/${sha256}`, (res) => {
      status = res.statusCode;
      res.once('data', (first: Buffer) => {
        received += first.length;
        hash.update(first);
        res.pause();
        whenStarted().then(() => {
          res.on('data', (b: Buffer) => {
            received += b.length;
            hash.update(b);
          });
          res.resume();
        }, reject);
      });
      res.on('end', done);
      res.on('error', done);
      res.on('close', done);
    });
    req.on('error', done);
  });
}
