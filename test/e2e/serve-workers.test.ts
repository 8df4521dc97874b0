import test from 'ava';
import { execFile } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import { promisify } from 'node:util';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { runCliWithin, startServe } from '../helpers/processes.js';
import { dbTestSerial, makeSite } from '../helpers/site.js';
import { eventually, registered } from '../helpers/sync-server.js';

/**
 * `upcat serve` with two worker processes (server.workers, issue 16): each answers syncs from its
 * own memory, and a change made through one is seen by the other from its next request, not one
 * poll later. The poll is set to a minute here, so only the change board can explain it.
 */

interface Answer {
  status: number;
  body: string;
  anchor?: string;
}

/** One request on a connection of its own: node:cluster hands each new one to the next worker. */
function request(
  url: string,
  opts: { method?: string; auth?: string; body?: string } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      {
        method: opts.method ?? 'GET',
        agent: false,
        headers: {
          ...(opts.auth === undefined ? {} : { authorization: `Bearer ${opts.auth}` }),
          ...(opts.body === undefined ? {} : { 'content-type': 'application/json' }),
        },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => {
          const anchor =
            res.statusCode === 200 && /json/.test(res.headers['content-type'] ?? '')
              ? (JSON.parse(body) as { anchor?: string }).anchor
              : undefined;
          resolve({
            status: res.statusCode ?? 0,
            body,
            ...(anchor === undefined ? {} : { anchor }),
          });
        });
      },
    );
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error(`no answer to ${url} within 10 s`)));
    req.end(opts.body);
  });
}

/** Syncs each worker answered from memory (304), from one scrape of GET /metrics. */
function memoryHits(metrics: string): Map<string, number> {
  const hits = new Map<string, number>();
  const re = /^upcat_syncs_total\{worker="(\d+)",result="not_modified",path="memory"\} (\d+)$/gm;
  for (const m of metrics.matchAll(re)) hits.set(m[1]!, Number(m[2]));
  return hits;
}

dbTestSerial(
  'two worker processes answer syncs from memory, and a block through one refuses the next sync on the other',
  async (t, ctx) => {
    await writeFile(
      path.join(ctx.home, 'upcat.config.json'),
      JSON.stringify({
        site: { approval: 'auto-all' },
        server: { workers: 2, changePollMs: 60_000 },
      }),
    );
    const admin = (await ctx.site.tokens.create({ name: 'ops', scope: 'admin' }, 'test')).token;
    const served = await startServe(ctx.env);
    t.teardown(() => served.stop());
    t.regex(served.log(), /with 2 worker processes/);
    const { url } = served;

    const secret = await registered(url);
    const clientId = secret.slice(0, 36);
    const first = await request(`${url}/v1/sync`, { auth: secret });
    t.is(first.status, 200, first.body);
    const anchor = first.anchor;
    if (anchor === undefined) return t.fail(`no anchor in ${first.body}`);
    const syncUrl = `${url}/v1/sync?anchor=${encodeURIComponent(anchor)}`;
    for (let i = 0; i < 8; i++) t.is((await request(syncUrl, { auth: secret })).status, 304);
    // Each worker answered from its own memory, and one scrape, whichever worker takes it,
    // says so for both (each family once, every sample labelled with its worker).
    for (let scrape = 0; scrape < 2; scrape++) {
      const metrics = (await request(`${url}/metrics`)).body;
      const hits = memoryHits(metrics);
      t.deepEqual([...hits.keys()].sort(), ['0', '1'], metrics);
      t.true(
        [...hits.values()].every((n) => n > 0),
        `memory hits per worker: ${[...hits]}`,
      );
      t.is(metrics.match(/^# TYPE upcat_syncs_total counter$/gm)?.length, 1);
    }

    // Blocked through one worker; every sync after the answer, on either worker, is refused.
    // Unblocked: its policy did not change, so both answer 304 again.
    for (const [change, status] of [
      ['block', 403],
      ['unblock', 304],
    ] as const) {
      const changed = await request(`${url}/v1/clients/${clientId}/${change}`, {
        method: 'POST',
        auth: admin,
      });
      t.is(changed.status, 200, changed.body);
      for (let i = 0; i < 4; i++) {
        const r = await request(syncUrl, { auth: secret });
        t.is(r.status, status, `sync ${i + 1} after the ${change}: ${r.body}`);
        if (status === 403) t.regex(r.body, /client_blocked/);
      }
    }

    // A worker killed outright is replaced; the other goes on answering meanwhile.
    const workers = (await promisify(execFile)('pgrep', ['-P', String(served.pid)])).stdout
      .trim()
      .split('\n')
      .map(Number);
    t.is(workers.length, 2);
    process.kill(workers[0]!, 'SIGKILL');
    const noticed = await eventually(
      async () => served.log(),
      (l) => /exited \(SIGKILL\)/.test(l),
    );
    t.regex(noticed, /worker \d \(pid \d+\) exited \(SIGKILL\); starting another/);
    for (let i = 0; i < 4; i++) t.is((await request(syncUrl, { auth: secret })).status, 304);
    const servings = (l: string): number => (l.match(/"msg":"serving"/g) ?? []).length;
    t.is(
      servings(
        await eventually(
          async () => served.log(),
          (l) => servings(l) === 3,
        ),
      ),
      3,
    );
    for (let i = 0; i < 4; i++) t.is((await request(syncUrl, { auth: secret })).status, 304);
  },
);

test('a node whose port is taken exits with one line, one process or several', async (t) => {
  const ctx = await makeSite('sqlite');
  t.teardown(() => ctx.cleanup());
  const taken = net.createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  t.teardown(() => taken.close());
  const port = String((taken.address() as net.AddressInfo).port);
  for (const workers of ['1', '2']) {
    const res = await runCliWithin(
      ['serve', '--workers', workers, '--port', port, '--host', '127.0.0.1'],
      ctx.env,
      30_000,
    );
    t.false(res.timedOut, `--workers ${workers}: it exited`);
    t.not(res.code, 0);
    const said = res.stderr.split('\n').filter((l) => l.startsWith('upcat:'));
    t.is(said.length, 1, res.stderr);
    t.regex(said[0]!, /EADDRINUSE/);
  }
});

test('--workers outside 1-64 is refused', async (t) => {
  const ctx = await makeSite('sqlite');
  t.teardown(() => ctx.cleanup());
  for (const n of ['0', '65', 'two']) {
    const res = await runCliWithin(['serve', '--workers', n], ctx.env, 30_000);
    t.is(res.code, 2);
    t.is(res.stderr.trim(), `upcat: --workers: "${n}" is not a number of processes from 1 to 64`);
  }
});
