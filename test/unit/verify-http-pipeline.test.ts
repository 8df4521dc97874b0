import http from 'node:http';
import net, { type AddressInfo, type Socket } from 'node:net';
import test from 'ava';
import { UpcatError } from '../../src/errors.js';
import { getBounded } from '../../src/verify/http-get.js';
import { pipelinedGet } from '../../src/verify/http-pipeline.js';

/**
 * `upcat verify`'s pipelined GETs (verify/http-pipeline.ts, issue 16): many requests share a few
 * connections and come back in order with their own bodies; every answer it does not read itself
 * (a status, a redirect, a chunked body, one over the cap, a connection the server closes) gives
 * what node:http gives, and a server that does not answer is an error within the time limit.
 */

interface Served {
  base: string;
  connections: Set<Socket>;
  close: () => Promise<void>;
}

async function serve(handler: http.RequestListener): Promise<Served> {
  const server = http.createServer(handler);
  const connections = new Set<Socket>();
  server.on('connection', (s: Socket) => connections.add(s));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    base: `http://127.0.0.1:${port}`,
    connections,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const TIMEOUT = 5_000;

test('pipelined GETs: 200 answers on at most two connections, each with its own body', async (t) => {
  const s = await serve((req, res) => {
    const body = `body of ${req.url ?? ''}`;
    // Some answers late, so that later requests wait behind them on the connection.
    const delay = req.url?.endsWith('7') === true ? 20 : 0;
    setTimeout(() => res.writeHead(200, { 'Content-Length': body.length }).end(body), delay);
  });
  try {
    const paths = Array.from({ length: 60 }, (_, i) => `/file/${i}`);
    const bodies = await Promise.all(
      paths.map((p) => pipelinedGet(`${s.base}${p}`, 1024, p, TIMEOUT)),
    );
    t.deepEqual(
      bodies.map((b) => b.toString()),
      paths.map((p) => `body of ${p}`),
    );
    t.true(s.connections.size <= 2, `${s.connections.size} connections`);
    const empty = await serve((_req, res) => res.writeHead(200, { 'Content-Length': 0 }).end());
    try {
      t.is((await pipelinedGet(`${empty.base}/none`, 10, 'empty', TIMEOUT)).length, 0);
    } finally {
      await empty.close();
    }
  } finally {
    await s.close();
  }
});

test('pipelined GETs: statuses, redirects, chunked and closing answers give what node:http gives', async (t) => {
  const s = await serve((req, res) => {
    const url = req.url ?? '';
    if (url === '/missing') res.writeHead(404, { 'Content-Length': 2 }).end('no');
    else if (url === '/moved') res.writeHead(302, { Location: '/ok', 'Content-Length': 0 }).end();
    else if (url === '/chunked') {
      res.writeHead(200); // no length: sent chunked
      res.write('part one, ');
      setTimeout(() => res.end('part two'), 5);
    } else if (url === '/closing')
      res.writeHead(200, { 'Content-Length': 7, Connection: 'close' }).end('closing');
    else if (url === '/big') res.writeHead(200, { 'Content-Length': 100 }).end('x'.repeat(100));
    else res.writeHead(200, { 'Content-Length': 2 }).end('ok');
  });
  try {
    const get = (p: string, max = 1024): Promise<Buffer> =>
      pipelinedGet(`${s.base}${p}`, max, p, TIMEOUT);
    // All asked at once, so that the unusual answers arrive amid pipelined ones.
    const [missing, moved, chunked, closing, big, after] = await Promise.allSettled([
      get('/missing'),
      get('/moved'),
      get('/chunked'),
      get('/closing'),
      get('/big', 10),
      get('/after'),
    ]);
    t.is(missing?.status, 'rejected');
    t.regex(String((missing as PromiseRejectedResult).reason), /\/missing answered 404/);
    t.is((moved as PromiseFulfilledResult<Buffer>).value.toString(), 'ok');
    t.is((chunked as PromiseFulfilledResult<Buffer>).value.toString(), 'part one, part two');
    t.is((closing as PromiseFulfilledResult<Buffer>).value.toString(), 'closing');
    t.is(big?.status, 'rejected');
    t.regex(String((big as PromiseRejectedResult).reason), /\/big: the site's answer is over 10/);
    t.is((after as PromiseFulfilledResult<Buffer>).value.toString(), 'ok');
  } finally {
    await s.close();
  }
});

test('pipelined GETs: a server that does not answer is an error within the time limit', async (t) => {
  const s = await serve(() => undefined);
  try {
    const started = Date.now();
    await t.throwsAsync(pipelinedGet(`${s.base}/silent`, 10, 'silent', 200), {
      message: /\/silent: no answer within 200 ms/,
    });
    t.true(Date.now() - started < 2_000);
  } finally {
    await s.close();
  }
});

test('pipelined GETs: a 4xx with a length is the status error node:http gives, asked once; a 5xx is asked again', async (t) => {
  const asked = new Map<string, number>();
  const s = await serve((req, res) => {
    const url = req.url ?? '';
    asked.set(url, (asked.get(url) ?? 0) + 1);
    if (url === '/missing') res.writeHead(404, { 'Content-Length': 9 }).end('not found');
    else if (url === '/busy') res.writeHead(503, { 'Content-Length': 4 }).end('busy');
    else res.writeHead(200, { 'Content-Length': 2 }).end('ok');
  });
  try {
    const get = (p: string): Promise<Buffer> => pipelinedGet(`${s.base}${p}`, 1024, p, TIMEOUT);
    const [missing, busy, after] = await Promise.allSettled([
      get('/missing'),
      get('/busy'),
      get('/after'),
    ]);
    for (const [outcome, status] of [
      [missing, 404],
      [busy, 503],
    ] as const) {
      t.is(outcome?.status, 'rejected');
      const err = (outcome as PromiseRejectedResult).reason as UpcatError;
      t.true(err instanceof UpcatError);
      t.is(err.code, 'integrity');
      t.deepEqual(err.details, { status });
      t.regex(err.message, new RegExp(` answered ${status}$`));
    }
    t.is((after as PromiseFulfilledResult<Buffer>).value.toString(), 'ok');
    // The 404 read on the pipelined connection; the 503 asked again through node:http.
    t.deepEqual(Object.fromEntries(asked), { '/missing': 1, '/busy': 2, '/after': 1 });
  } finally {
    await s.close();
  }
});

test('a server that cannot be reached: each waiting request fails as node:http fails it, asked once', async (t) => {
  // A port that was just listened on and closed: nothing listens there now.
  const probe = http.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  const base = `http://127.0.0.1:${port}`;

  const connect = net.Socket.prototype.connect;
  let connects = 0;
  net.Socket.prototype.connect = function (this: net.Socket, ...args: unknown[]) {
    connects++;
    return (connect as (...a: unknown[]) => net.Socket).apply(this, args);
  } as typeof connect;
  let outcomes: PromiseSettledResult<Buffer>[];
  try {
    outcomes = await Promise.allSettled(
      ['/tuf/1.root.json', '/tuf/timestamp.json'].map((p) =>
        pipelinedGet(`${base}${p}`, 1024, p, TIMEOUT),
      ),
    );
  } finally {
    net.Socket.prototype.connect = connect;
  }
  // One connection each (the pipeline opens two per server), and neither asked again over
  // node:http, which would have made four.
  t.is(connects, 2);
  const viaHttp = await getBounded(`${base}/tuf/1.root.json`, 1024, 'root', TIMEOUT).then(
    () => undefined,
    (err: unknown) => err as UpcatError,
  );
  t.truthy(viaHttp);
  for (const [i, outcome] of outcomes.entries()) {
    t.is(outcome.status, 'rejected');
    const err = (outcome as PromiseRejectedResult).reason as UpcatError;
    t.true(err instanceof UpcatError);
    t.is(err.code, 'integrity');
    t.is(
      err.message,
      i === 0
        ? (viaHttp?.message ?? '')
        : `${base}/tuf/timestamp.json: connect ECONNREFUSED 127.0.0.1:${port}`,
    );
  }
  t.regex(viaHttp?.message ?? '', /: connect ECONNREFUSED 127\.0\.0\.1:\d+$/);
});
