/**
 * Issue 15's multi-node benchmark: nothing-new client syncs per second and their p99 through
 * nginx (Debian's, as the load balancer) in front of two and three `upcat serve` nodes on one
 * PostgreSQL database, against one node answered directly, all in the same run with the same
 * clients and the same wrk load. The syncs carry a current anchor (the 304 of an hourly sync,
 * answered by each node's fast path from memory); what the balancer adds is a hop and its CPU,
 * what more nodes add is more processes for the same cores: on this 2-core machine more nodes
 * cannot mean more syncs per second, and the figures say what the hop costs.
 *
 * The nodes share one PostgreSQL (BENCH_DATABASE_URL, else DATABASE_URL, in the schema
 * bench_multi_node, dropped first), the TUF metadata in it (storage.metadata: database), and the
 * first node's catalog/ and packages/ folders. Then publish latency: small publishes to one node,
 * through the balancer, and from three pipelines at once, one per node.
 * BENCH_CLIENTS (default 10,000) clients, BENCH_WRK_SECONDS (default 10) per scenario.
 */
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { cp, mkdir, rm, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import path from 'node:path';
import { initSite, openSite } from '../src/app.js';
import { startNginx } from '../test/e2e/multi-node/nginx.js';
import { publishOver } from '../test/e2e/multi-node/traffic.js';
import { tokenOf } from '../test/helpers/tokens.js';
import { deployOne } from '../test/helpers/sync-server.js';
import { cpuMs, spawnServe, usePostgresIfAsked } from './sim.js';
import { bulkClients, warmed } from './site-sync.js';
import type { BenchResult } from './types.js';
import { freePort, waitForHttp, workDir } from './util.js';
import { ensureWrk, runWrk, syncLua, type WrkFigures } from './wrk.js';

const CLIENTS = Number(process.env['BENCH_CLIENTS'] ?? 10_000);
const SECONDS = Number(process.env['BENCH_WRK_SECONDS'] ?? 10);
const DEPLOYMENTS = 3;
const CONNECTIONS = 32;

export async function run(): Promise<BenchResult> {
  // Set for this benchmark only: bench/run.ts runs the next ones in the same process, and they
  // would otherwise move to PostgreSQL too.
  const asked = process.env['BENCH_DATABASE_URL'];
  process.env['BENCH_DATABASE_URL'] =
    asked ?? process.env['DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';
  try {
    return await measure();
  } finally {
    if (asked === undefined) delete process.env['BENCH_DATABASE_URL'];
  }
}

async function measure(): Promise<BenchResult> {
  ensureWrk();
  const dir = await workDir('multi-node');
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const first = path.join(dir, 'node-0');
  const config = {
    site: { approval: 'auto-all' },
    log: { level: 'warn' },
    server: { trustedProxies: ['127.0.0.1'] },
    paths: { catalog: path.join(first, 'catalog'), packages: path.join(first, 'packages') },
    // TUF metadata as several nodes keep it: rows, the writers taking turns on an advisory lock.
    storage: { metadata: 'database' },
  };
  const homes = [0, 1, 2].map((i) => path.join(dir, `node-${i}`));
  const envs = homes.map((home) => ({ UPCAT_HOME: home, PATH: process.env['PATH'] ?? '' }));
  for (const home of homes) {
    await mkdir(home, { recursive: true });
    await writeFile(path.join(home, 'upcat.config.json'), JSON.stringify(config));
  }
  for (const env of envs) await usePostgresIfAsked(env, 'bench_multi_node');
  await initSite({ home: first, env: envs[0] });
  const clientsFile = path.join(dir, 'clients.txt');
  const site = await openSite({ home: first, env: envs[0], logLevel: 'silent' });
  let publishToken: string;
  try {
    publishToken = await tokenOf(site, 'publish');
    for (let i = 0; i < DEPLOYMENTS; i++) await deployOne(site, `bench-${i}`);
    await bulkClients(site, clientsFile, CLIENTS, DEPLOYMENTS);
  } finally {
    await site.close();
  }
  // The other nodes hold a copy of the site's signing/ directory (docs/OPERATIONS.md).
  for (const home of homes.slice(1)) {
    await cp(path.join(first, 'signing'), path.join(home, 'signing'), { recursive: true });
  }
  const lua = path.join(dir, 'sync.lua');
  await writeFile(lua, syncLua(clientsFile)); // each request a 304 from the fast path

  const ports: number[] = [];
  const servers: ChildProcess[] = [];
  try {
    for (const env of envs) {
      const port = await freePort();
      ports.push(port);
      servers.push(spawnServe(env, port));
      await waitForHttp(`http://127.0.0.1:${port}/healthz`, 120_000);
      await warmed(`http://127.0.0.1:${port}`, CLIENTS);
    }
    const pids = servers.map((s) => s.pid);
    const wrk = (url: string): Promise<WrkFigures> =>
      runWrk(lua, url, SECONDS, { threads: 1, connections: CONNECTIONS });
    const direct = `http://127.0.0.1:${ports[0] ?? 0}`;
    await wrk(direct); // warm up (JIT, connection pools)
    const two = await startNginx(path.join(dir, 'nginx-2'), ports.slice(0, 2));
    const three = await startNginx(path.join(dir, 'nginx-3'), ports);
    try {
      const one = await measured(pids, () => wrk(direct));
      const viaTwo = await measured(pids, () => wrk(two.url));
      const viaThree = await measured(pids, () => wrk(three.url));
      const oneAgain = await measured(pids, () => wrk(direct));
      const publishes = await publishLatency(direct, three.url, ports, publishToken);
      const ratio = viaThree.f.rps / ((one.f.rps + oneAgain.f.rps) / 2);
      const row = (m: Measured): Record<string, string | number> => ({
        'syncs/s': Math.round(m.f.rps),
        'p50 / p99 ms': `${m.f.p50Ms} / ${m.f.p99Ms}`,
        statuses: JSON.stringify(m.f.statuses),
        'upcat CPU ms per sync (all nodes)': round3(m.cpuMs / Math.max(1, m.f.requests)),
      });
      const figures: Record<string, string | number> = {
        clients: CLIENTS,
        'wrk threads x connections, seconds each': `1 x ${CONNECTIONS}, ${SECONDS}`,
        'load average (1 min) at the end': round2(loadavg()[0] ?? 0),
      };
      for (const [label, m] of [
        ['one node direct', one],
        ['nginx, two nodes', viaTwo],
        ['nginx, three nodes', viaThree],
        ['one node direct, again', oneAgain],
      ] as const) {
        for (const [k, v] of Object.entries(row(m))) figures[`${label}: ${k}`] = v;
      }
      Object.assign(figures, publishes);
      return {
        name: `nothing-new syncs through nginx with two and three nodes on one PostgreSQL against one node direct (${CLIENTS.toLocaleString('en')} clients)`,
        figures,
        reference: 'one node answered directly (mean of before and after), same run, same wrk load',
        ratio: round2(ratio),
      };
    } finally {
      await two.stop();
      await three.stop();
    }
  } finally {
    const running = servers.filter((s) => s.exitCode === null);
    const exits = running.map((s) => once(s, 'exit'));
    for (const s of running) s.kill('SIGTERM');
    await Promise.all(exits);
  }
}

const PUBLISHES = 12;

/**
 * Publish latency with N nodes (issue 15 item 6): small publishes (64 KiB) one after another
 * straight to one node, the same through nginx over three nodes, and three pipelines at once,
 * each publishing to its own node (the repository writers take turns on the database).
 */
async function publishLatency(
  direct: string,
  balanced: string,
  ports: number[],
  token: string,
): Promise<Record<string, string>> {
  let n = 0;
  const one = async (base: string): Promise<number> => {
    const start = process.hrtime.bigint();
    await publishOver(base, token, `latency-${Date.now()}-${n++}`, Buffer.alloc(64 * 1024, n));
    return Number(process.hrtime.bigint() - start) / 1e6;
  };
  const serial = async (base: string): Promise<number[]> => {
    const times: number[] = [];
    for (let i = 0; i < PUBLISHES; i++) times.push(await one(base));
    return times;
  };
  const spread = (times: number[]): string => {
    const sorted = [...times].sort((a, b) => a - b);
    const at = (q: number): number => Math.round(sorted[Math.floor((sorted.length - 1) * q)] ?? 0);
    return `${at(0.5)} / ${at(1)}`;
  };
  const alone = await serial(direct);
  const viaBalancer = await serial(balanced);
  const concurrent = (await Promise.all(ports.map((p) => serial(`http://127.0.0.1:${p}`)))).flat();
  return {
    'publish 64 KiB, one node direct, one at a time: median / max ms': spread(alone),
    'publish, nginx over three nodes, one at a time: median / max ms': spread(viaBalancer),
    'publish, three pipelines at once, one per node: median / max ms': spread(concurrent),
  };
}

interface Measured {
  f: WrkFigures;
  cpuMs: number;
}

/** A scenario's figures with the CPU time all nodes spent during it. */
async function measured(
  pids: Array<number | undefined>,
  scenario: () => Promise<WrkFigures>,
): Promise<Measured> {
  const total = async (): Promise<number> =>
    (await Promise.all(pids.map(cpuMs))).reduce((a, b) => a + b, 0);
  const before = await total();
  const f = await scenario();
  return { f, cpuMs: (await total()) - before };
}

const round2 = (n: number): number => Math.round(n * 100) / 100;
const round3 = (n: number): number => Math.round(n * 1000) / 1000;
