import { randomBytes } from 'node:crypto';
import http from 'node:http';
import test from 'ava';
import request from 'supertest';
import {
  histogramBuckets,
  histogramQuantile,
  parseExposition,
  type Family,
} from '../../bench/prometheus.js';
import { createApp } from '../../src/server/app.js';
import { isLocalCaller } from '../../src/server/routes/metrics.js';
import { startServer } from '../../src/server/serve.js';
import { registration } from '../helpers/clients.js';
import { fileManifest, publishBytes } from '../helpers/publish.js';
import { dbTest, makeSite } from '../helpers/site.js';
import { bearer } from '../helpers/tokens.js';
import { eventually, listen, uploadForm } from '../helpers/upload.js';

/**
 * `GET /metrics` (src/server/metrics.ts): the series move with the answers the server gives,
 * on the fast paths in front of Express (serve.ts) as on Express routes, under route templates,
 * in a text format that parses; and only the callers server.metricsAccess allows may read it.
 */

async function scrape(url: string): Promise<Map<string, Family>> {
  const res = await fetch(`${url}/metrics`);
  if (res.status !== 200) throw new Error(`GET /metrics: ${res.status}`);
  return parseExposition(await res.text());
}

/** The value of one series (all of `labels` must match); 0 when absent. */
function valueOf(
  families: Map<string, Family>,
  name: string,
  labels: Record<string, string> = {},
): number {
  const family = families.get(name.replace(/_(count|sum|bucket)$/, '')) ?? families.get(name);
  const sample = family?.samples.find(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
  return sample?.value ?? 0;
}

const requests = (m: Map<string, Family>, route: string, code: string, method = 'GET'): number =>
  valueOf(m, 'upcat_http_request_duration_seconds_count', { route, code, method });

const msg = (id: string): Record<string, unknown> => ({ id, topic: 'client', state: 'installed' });

dbTest(
  'metrics: fast-path and Express answers move the right series, and the counters count',
  async (t, ctx) => {
    ctx.site.config.site.approval = 'auto-all';
    const server = await startServer(ctx.site, { host: '127.0.0.1', port: 0 });
    const url = server.url;
    try {
      const before = await scrape(url);
      t.is(valueOf(before, 'upcat_syncs_total', { result: 'not_modified', path: 'memory' }), 0);
      t.is(valueOf(before, 'upcat_registrations_total'), 0);
      t.truthy(before.get('process_cpu_user_seconds_total'), 'default process metrics');
      t.truthy(before.get('nodejs_eventloop_lag_seconds'), 'default Node metrics');

      // Registration, then a full sync (database path) that lets the fast path remember it.
      const reg = await fetch(`${url}/v1/clients`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(registration()),
      });
      t.is(reg.status, 201);
      const { secret } = (await reg.json()) as { secret: string };
      const auth = { authorization: `Bearer ${secret}` };
      const full = await fetch(`${url}/v1/sync`, { headers: auth });
      t.is(full.status, 200);
      const { anchor } = (await full.json()) as { anchor: string };
      // The nothing-new sync: answered before Express routing (the fast path).
      const nothing = await fetch(`${url}/v1/sync?anchor=${encodeURIComponent(anchor)}`, {
        headers: auth,
      });
      t.is(nothing.status, 304);
      t.is(ctx.site.syncFast.hits, 1, 'answered by the fast path');
      t.is(valueOf(await scrape(url), 'upcat_sync_cache_clients'), 1);

      // timestamp.json: a 200, then a 304 on its ETag, both before Express routing.
      const ts = await fetch(`${url}/tuf/timestamp.json`);
      t.is(ts.status, 200);
      await ts.arrayBuffer();
      const etag = ts.headers.get('etag') ?? '';
      const ts304 = await fetch(`${url}/tuf/timestamp.json`, {
        headers: { 'if-none-match': etag },
      });
      t.is(ts304.status, 304);

      // State messages: 2 authenticated, 1 through the fallback status point.
      const status = await fetch(`${url}/v1/status`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ messages: [msg('m-1'), msg('m-2')] }),
      });
      t.is(status.status, 202);
      const fsp = await fetch(`${url}/fsp/v1/status`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ hardwareId: 'hw-x', messages: [msg('f-1')] }),
      });
      t.is(fsp.status, 202);
      const badStatus = await fetch(`${url}/v1/status`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ messages: [] }),
      });
      t.is(badStatus.status, 400);

      // A publish, then the same publish again (an idempotent repeat: 200).
      const form = uploadForm(fileManifest('tool.bin'), 'tool bytes');
      const token = await bearer(ctx.site, 'publish');
      for (const expected of [201, 200]) {
        const res = await fetch(`${url}/v1/updates`, {
          method: 'POST',
          headers: { authorization: token, 'content-type': form.contentType },
          body: form.body,
        });
        t.is(res.status, expected);
        await res.arrayBuffer();
      }

      const after = await scrape(url);
      t.is(valueOf(after, 'upcat_syncs_total', { result: 'not_modified', path: 'memory' }), 1);
      t.is(valueOf(after, 'upcat_syncs_total', { result: 'full', path: 'database' }), 1);
      t.is(valueOf(after, 'upcat_syncs_total', { result: 'not_modified', path: 'database' }), 0);
      t.is(valueOf(after, 'upcat_registrations_total'), 1);
      t.is(valueOf(after, 'upcat_state_messages_total', { path: 'authenticated' }), 2);
      t.is(valueOf(after, 'upcat_state_messages_total', { path: 'fallback' }), 1);
      t.is(valueOf(after, 'upcat_publishes_total', { result: 'created' }), 1);
      t.is(valueOf(after, 'upcat_publishes_total', { result: 'unchanged' }), 1);

      t.is(requests(after, '/v1/sync', '304'), 1);
      t.is(requests(after, '/v1/sync', '200'), 1);
      t.is(requests(after, '/tuf/:file', '200'), 1);
      t.is(requests(after, '/tuf/:file', '304'), 1);
      t.is(requests(after, '/v1/clients', '201', 'POST'), 1);
      t.is(requests(after, '/v1/status', '202', 'POST'), 1);
      t.is(requests(after, '/v1/status', '400', 'POST'), 1);
      t.is(requests(after, '/fsp/v1/status', '202', 'POST'), 1);
      t.is(requests(after, '/v1/updates', '201', 'POST'), 1);
      t.is(requests(after, '/metrics', '200'), 2, 'the earlier scrapes, timed once answered');

      // The histogram is whole: cumulative buckets, +Inf equal to the count, a sum.
      const family = after.get('upcat_http_request_duration_seconds');
      t.is(family?.type, 'histogram');
      const sync304 = histogramBuckets(
        family,
        (l) => l['route'] === '/v1/sync' && l['code'] === '304',
      );
      t.is(sync304.get(Infinity), 1);
      t.true(sync304.get(0.0005) !== undefined, 'a 0.5 ms bucket');
      let last = 0;
      for (const [, n] of [...sync304].sort(([a], [b]) => a - b)) {
        t.true(n >= last, 'buckets are cumulative');
        last = n;
      }
      // How fast it was is for bench/ to say (no timed assertions here): only that it was timed.
      t.true(Number.isFinite(histogramQuantile(0.99, sync304)), 'the 304 was timed');
    } finally {
      await server.close();
    }
  },
);

test('metrics: random URLs do not grow the label set (route templates, not paths)', async (t) => {
  const ctx = await makeSite('sqlite');
  try {
    const app = createApp(ctx.site);
    const routesAfter = async (): Promise<Set<string>> => {
      const res = await request(app).get('/metrics').expect(200);
      const family = parseExposition(res.text).get('upcat_http_request_duration_seconds');
      return new Set(
        (family?.samples ?? []).map((s) => `${s.labels['method']} ${s.labels['route']}`),
      );
    };
    const hex = (n: number): string => randomBytes(n).toString('hex');
    const burst = async (n: number): Promise<void> => {
      for (let i = 0; i < n; i++) {
        await request(app).get(`/nowhere/${hex(8)}?q=${hex(4)}`);
        await request(app).get(`/content/${hex(32)}`);
        await request(app).get(`/v1/clients/${hex(16)}/certificate`);
        await request(app).get(`/tuf/${hex(4)}.json`);
        await request(app)
          .post(`/v1/${hex(6)}`)
          .send({});
      }
    };
    await routesAfter(); // the scrape itself is a series, from the second scrape on
    await burst(5);
    const few = await routesAfter();
    await burst(60);
    const many = await routesAfter();
    t.deepEqual([...many].sort(), [...few].sort(), '300 more random URLs, no new series');
    t.deepEqual([...many].sort(), [
      'GET /content/:name',
      'GET /metrics',
      'GET /tuf/:file',
      'GET /v1/clients/:clientId/certificate',
      'GET unmatched',
      'POST unmatched',
    ]);
  } finally {
    await ctx.cleanup();
  }
});

test('metrics: the whole exposition parses as Prometheus text format 0.0.4', async (t) => {
  const ctx = await makeSite('sqlite');
  try {
    const app = createApp(ctx.site);
    await request(app).get('/healthz').expect(200);
    const res = await request(app).get('/metrics').expect(200);
    t.is(res.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
    t.is(res.headers['cache-control'], 'no-store');
    const families = parseExposition(res.text);
    t.true(families.size > 15, `${families.size} families`);
    for (const f of families.values()) {
      t.not(f.type, 'untyped', `${f.name} has a TYPE`);
      t.truthy(f.help, `${f.name} has a HELP`);
    }
    for (const name of [
      'upcat_syncs_total',
      'upcat_publishes_total',
      'upcat_registrations_total',
      'upcat_state_messages_total',
    ])
      t.is(families.get(name)?.type, 'counter', name);
    t.is(
      valueOf(families, 'upcat_http_request_duration_seconds_count', {
        route: '/healthz',
        code: '200',
      }),
      1,
    );
    // The parser itself refuses what is not the format.
    t.throws(() => parseExposition('# TYPE x counter\nx{a="1} 1\n'), { message: /not a sample/ });
    t.throws(() => parseExposition('# TYPE x counter\nx 1\nx 2\n'), { message: /series twice/ });
    t.throws(() => parseExposition('# TYPE x counter\ny 1\n'), { message: /outside its family/ });
  } finally {
    await ctx.cleanup();
  }
});

test('metrics: a download the client abandons is timed under code "aborted"', async (t) => {
  const ctx = await makeSite('sqlite');
  const app = createApp(ctx.site);
  const { url, close } = await listen(app);
  try {
    const big = randomBytes(32 * 1024 * 1024);
    const { sha256 } = await publishBytes(ctx.site, big, fileManifest('big.bin'), 'big.bin');
    await new Promise<void>((resolve, reject) => {
      const req = http.get(`${url}/content/${sha256}`, (res) => {
        t.is(res.statusCode, 200);
        res.once('data', () => {
          req.destroy(); // gone after the first chunk of 32 MiB
          resolve();
        });
      });
      req.on('error', (err) => (req.destroyed ? undefined : reject(err)));
    });
    const aborted = async (): Promise<number> =>
      requests(
        parseExposition((await request(app).get('/metrics')).text),
        '/content/:name',
        'aborted',
      );
    t.true(await eventually(async () => (await aborted()) === 1));
    const done = parseExposition((await request(app).get('/metrics')).text);
    t.is(requests(done, '/content/:name', '200'), 0, 'not counted as a finished 200 as well');
  } finally {
    await close();
    await ctx.cleanup();
  }
});

test('metrics: histogramQuantile interpolates as PromQL does', (t) => {
  const b = new Map([
    [0.001, 50],
    [0.002, 90],
    [0.005, 100],
    [Infinity, 100],
  ]);
  t.is(histogramQuantile(0.5, b), 0.001);
  t.true(Math.abs(histogramQuantile(0.7, b) - 0.0015) < 1e-12);
  t.true(Math.abs(histogramQuantile(0.99, b) - 0.0047) < 1e-12);
  t.true(Number.isNaN(histogramQuantile(0.99, new Map([[Infinity, 0]]))));
  t.is(
    histogramQuantile(
      0.99,
      new Map([
        [0.01, 1],
        [Infinity, 10],
      ]),
    ),
    0.01,
  );
});

dbTest(
  'metrics: server.metricsAccess decides who reads /metrics (loopback, token, open)',
  async (t, ctx) => {
    const site = ctx.site;
    // loopback (the default): this test's own socket is loopback; a proxy's header is not.
    t.is(site.config.server.metricsAccess, 'loopback');
    let app = createApp(site);
    await request(app).get('/metrics').expect(200);
    const proxied = await request(app).get('/metrics').set('X-Forwarded-For', '203.0.113.7');
    t.is(proxied.status, 403);
    t.is(proxied.body.error.code, 'forbidden');
    const forwarded = await request(app).get('/metrics').set('Forwarded', 'for=203.0.113.7');
    t.is(forwarded.status, 403);

    site.config.server.metricsAccess = 'token';
    app = createApp(site);
    const none = await request(app).get('/metrics');
    t.is(none.status, 401);
    t.is(none.body.error.code, 'unauthorized');
    const approve = await request(app)
      .get('/metrics')
      .set('Authorization', await bearer(site, 'approve'));
    t.is(approve.status, 403);
    t.is(approve.body.error.code, 'forbidden');
    await request(app)
      .get('/metrics')
      .set('Authorization', await bearer(site, 'admin'))
      .expect(200);

    site.config.server.metricsAccess = 'open';
    app = createApp(site);
    await request(app).get('/metrics').set('X-Forwarded-For', '203.0.113.7').expect(200);
  },
);

test('metrics: isLocalCaller knows loopback addresses, and distrusts proxies', (t) => {
  for (const a of ['127.0.0.1', '127.10.0.3', '::1', '::ffff:127.0.0.1'])
    t.true(isLocalCaller(a, {}), a);
  for (const a of ['10.0.0.1', '::ffff:10.0.0.1', '128.0.0.1', '::2', 'fe80::1', undefined])
    t.false(isLocalCaller(a, {}), String(a));
  t.false(isLocalCaller('127.0.0.1', { 'x-forwarded-for': '127.0.0.1' }));
});
