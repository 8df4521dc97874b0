import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import test from 'ava';
import { RemoteClient } from '../../../src/cli/remote.js';
import { UpcatError } from '../../../src/errors.js';

/**
 * The CLI's client for `--server` speaks node:http (issue 16: fetch's first use costs every
 * remote command ~100 ms of CPU at start). What fetch gave it must hold: the token on every
 * request, JSON in and out, redirects never followed, the answer capped, a deadline, and the
 * server's coded errors passed on.
 */

type Handler = (req: IncomingMessage, body: string, res: ServerResponse) => void;

async function withServer(handler: Handler, fn: (url: string) => Promise<void>): Promise<void> {
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => handler(req, body, res));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    await fn(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

const json = (res: ServerResponse, status: number, value: unknown): void => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(value));
};

test('sends the token and JSON, with the query, and parses the JSON answer', async (t) => {
  const seen: Array<{ method?: string; url?: string; auth?: string; type?: string; body: string }> =
    [];
  await withServer(
    (req, body, res) => {
      seen.push({
        method: req.method,
        url: req.url,
        auth: req.headers.authorization,
        type: req.headers['content-type'],
        body,
      });
      json(res, 200, { ok: true });
    },
    async (url) => {
      const client = new RemoteClient({ server: `${url}/base`, token: 'T0k' });
      t.deepEqual(await client.getJson('/v1/x', { a: 'b c', skip: undefined }), { ok: true });
      t.deepEqual(await client.postJson('/v1/y', { n: 1 }), { ok: true });
    },
  );
  t.like(seen[0], { method: 'GET', url: '/base/v1/x?a=b+c', auth: 'Bearer T0k', body: '' });
  t.like(seen[1], {
    method: 'POST',
    url: '/base/v1/y',
    type: 'application/json',
    body: '{"n":1}',
  });
});

test("a server's coded error keeps its code; another status is named", async (t) => {
  await withServer(
    (req, _body, res) =>
      req.url === '/v1/coded'
        ? json(res, 409, { error: { code: 'conflict', message: 'already\nthere' } })
        : res.writeHead(502).end('bad gateway'),
    async (url) => {
      const client = new RemoteClient({ server: url, token: 't' });
      const coded = await t.throwsAsync(client.getJson('/v1/coded'), { instanceOf: UpcatError });
      t.is(coded?.code, 'conflict');
      t.is(coded?.message, `${url}: already there`);
      const other = await t.throwsAsync(client.getJson('/v1/other'), { instanceOf: UpcatError });
      t.is(other?.code, 'internal');
      t.is(other?.message, `${url}: HTTP 502 for /v1/other`);
    },
  );
});

test('a redirect is not followed (it would carry the token elsewhere)', async (t) => {
  let requests = 0;
  await withServer(
    (_req, _body, res) => {
      requests++;
      res.writeHead(302, { location: 'http://127.0.0.1:9/steal' });
      res.end();
    },
    async (url) => {
      const client = new RemoteClient({ server: url, token: 't' });
      const err = await t.throwsAsync(client.getJson('/v1/x'), { instanceOf: UpcatError });
      t.regex(err?.message ?? '', /redirect \(HTTP 302\), which is not followed/);
    },
  );
  t.is(requests, 1);
});

test('an answer over the cap is refused, declared or streamed', async (t) => {
  await withServer(
    (req, _body, res) => {
      if (req.url === '/declared') {
        res.writeHead(200, { 'content-length': '5000' });
        res.end('x'.repeat(5000));
      } else {
        res.writeHead(200); // chunked: no length given
        res.write('x'.repeat(3000));
        res.end('x'.repeat(3000));
      }
    },
    async (url) => {
      const client = new RemoteClient({ server: url, token: 't', maxResponseBytes: 4096 });
      for (const p of ['/declared', '/streamed']) {
        const err = await t.throwsAsync(client.getJson(p), { instanceOf: UpcatError });
        t.is(err?.code, 'too_large', p);
      }
    },
  );
});

test('no answer before the deadline is an error, and a non-JSON answer is one', async (t) => {
  await withServer(
    (req, _body, res) => {
      if (req.url === '/slow') setTimeout(() => json(res, 200, {}), 2000);
      else res.writeHead(200).end('<html>');
    },
    async (url) => {
      const client = new RemoteClient({ server: url, token: 't', timeoutMs: 200 });
      const slow = await t.throwsAsync(client.getJson('/slow'), { instanceOf: UpcatError });
      t.is(slow?.message, `cannot reach ${url}: no answer in time`);
      const html = await t.throwsAsync(client.getJson('/html'), { instanceOf: UpcatError });
      t.is(html?.code, 'integrity');
    },
  );
});
