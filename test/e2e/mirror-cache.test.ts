import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { PayloadCache } from '../../src/mirror/payload-cache.js';
import { PayloadFetcher } from '../../src/mirror/payload-fetch.js';

/**
 * The mirror's payload cache and its upstream fetch (issue 15 item 5), against a small HTTP
 * server that counts requests and can hold an answer until the test releases it.
 */

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

async function tmp(t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'upcat-mirror-cache-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

interface Upstream {
  url: string;
  hits: Map<string, number>;
  /** While set, answers wait for it to resolve. */
  gate: Promise<void> | undefined;
}

async function upstream(t: ExecutionContext, files: Record<string, Buffer>): Promise<Upstream> {
  const u: Upstream = { url: '', hits: new Map(), gate: undefined };
  const server = http.createServer((req, res) => {
    const p = req.url ?? '';
    u.hits.set(p, (u.hits.get(p) ?? 0) + 1);
    void (u.gate ?? Promise.resolve()).then(() => {
      const body = files[p];
      if (body === undefined) res.writeHead(404).end();
      else res.writeHead(200, { 'content-length': body.length }).end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(
    () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  );
  u.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return u;
}

const LIMITS = { idleMs: 10_000, totalMs: 60_000 };
const want = (b: Buffer, over: Partial<{ length: number; sha256: string }> = {}) => ({
  name: sha(b),
  sha256: over.sha256 ?? sha(b),
  maxBytes: over.length ?? b.length,
  length: over.length ?? b.length,
});

test('a payload is fetched once for concurrent requests, hashed, and then served from the cache', async (t) => {
  const body = Buffer.alloc(100_000, 7);
  const u = await upstream(t, { [`/content/${sha(body)}`]: body });
  const cache = new PayloadCache(await tmp(t), 1_000_000);
  await cache.open();
  const fetcher = new PayloadFetcher(cache, u.url, LIMITS);
  let open: () => void = () => undefined;
  u.gate = new Promise((r) => (open = r));
  const holds = [1, 2, 3].map(() => fetcher.get(want(body), `/content/${sha(body)}`));
  open();
  for (const hold of await Promise.all(holds)) {
    t.deepEqual(await readFile(hold.file), body);
    hold.release();
  }
  (await fetcher.get(want(body), `/content/${sha(body)}`)).release();
  t.is(u.hits.get(`/content/${sha(body)}`), 1);
  t.is(cache.bytes, body.length);
});

test('bytes that do not hash to their name, or run past the signed length, are not kept', async (t) => {
  const body = Buffer.from('the real payload');
  const other = Buffer.from('a forged payload');
  const u = await upstream(t, { '/forged': other, '/long': Buffer.concat([body, body]) });
  const dir = await tmp(t);
  const cache = new PayloadCache(dir, 1_000_000);
  await cache.open();
  const fetcher = new PayloadFetcher(cache, u.url, LIMITS);
  const forged = await t.throwsAsync(fetcher.get(want(body), '/forged'));
  t.regex(forged?.message ?? '', /do not hash to their name/);
  const long = await t.throwsAsync(fetcher.get(want(body), '/long'));
  t.regex(long?.message ?? '', /more than the 16 bytes/);
  const missing = await t.throwsAsync(fetcher.get(want(body), '/nothing'));
  t.like(missing, { code: 'not_found' });
  t.is(cache.count, 0);
  t.deepEqual(await readdir(path.join(dir, 'tmp')), []);
});

test('the budget evicts the least recently used file that no response is reading', async (t) => {
  const [a, b, c] = ['a', 'b', 'c'].map((x) => Buffer.alloc(400, x));
  const files = Object.fromEntries([a, b, c].map((x) => [`/${sha(x as Buffer)}`, x as Buffer]));
  const u = await upstream(t, files);
  const cache = new PayloadCache(await tmp(t), 1000);
  await cache.open();
  const fetcher = new PayloadFetcher(cache, u.url, LIMITS);
  const get = (x: Buffer) => fetcher.get(want(x), `/${sha(x)}`);
  const holdA = await get(a as Buffer); // a is being read: it stays
  (await get(b as Buffer)).release();
  (await get(c as Buffer)).release(); // room for c: b goes (a is busy)
  t.true(cache.has(sha(a as Buffer)));
  t.false(cache.has(sha(b as Buffer)));
  t.true(cache.has(sha(c as Buffer)));
  holdA.release();
  (await get(c as Buffer)).release(); // c used after a: a is now the least recent
  (await get(b as Buffer)).release();
  t.false(cache.has(sha(a as Buffer)));
  t.true(cache.has(sha(b as Buffer)) && cache.has(sha(c as Buffer)));
  t.true(cache.bytes <= 1000);
});

test('a file larger than the budget is served once and not kept; a restart keeps what was cached', async (t) => {
  const big = Buffer.alloc(2000, 'x');
  const small = Buffer.alloc(10, 'y');
  const u = await upstream(t, { '/big': big, '/small': small });
  const dir = await tmp(t);
  const cache = new PayloadCache(dir, 1000);
  await cache.open();
  const fetcher = new PayloadFetcher(cache, u.url, LIMITS);
  const hold = await fetcher.get(want(big), '/big');
  t.deepEqual(await readFile(hold.file), big);
  hold.release();
  t.false(cache.has(sha(big)));
  (await fetcher.get(want(small), '/small')).release();
  await writeFile(path.join(dir, 'tmp', 'left-over'), 'partial');
  const again = new PayloadCache(dir, 1000);
  await again.open();
  t.true(again.has(sha(small)));
  t.is(again.bytes, small.length);
  t.deepEqual(await readdir(path.join(dir, 'tmp')), []);
});

test('the request that starts a fetch gets the bytes as they arrive, before the upstream ends', async (t) => {
  const body = Buffer.alloc(200_000, 3);
  let rest: () => void = () => undefined;
  const restSent = new Promise<void>((r) => (rest = r));
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-length': body.length });
    res.write(body.subarray(0, 100_000));
    void restSent.then(() => res.end(body.subarray(100_000)));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(
    () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  );
  const cache = new PayloadCache(await tmp(t), 1_000_000);
  await cache.open();
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const fetcher = new PayloadFetcher(cache, url, LIMITS);
  const received: Buffer[] = [];
  let half: () => void = () => undefined;
  const halfSeen = new Promise<void>((r) => (half = r));
  const live = {
    used: false,
    write: (chunk: Buffer) => {
      received.push(chunk);
      if (Buffer.concat(received).length >= 100_000) half();
    },
  };
  const done = fetcher.get(want(body), '/payload', live);
  await halfSeen; // the first half reached the requester while the upstream still holds the rest
  t.false(cache.has(sha(body)));
  rest();
  const hold = await done;
  hold.release();
  t.true(live.used);
  t.deepEqual(Buffer.concat(received), body);
  t.true(cache.has(sha(body)));
});
