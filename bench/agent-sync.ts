/**
 * Issue 6 benchmark: the agent's sync cycle.
 *
 * (a) One agent cycle with nothing to do (registered, policy unchanged): wall time and bytes on
 *     the wire, counted by a TCP proxy between agent and server. Reference, in the same run:
 *     `curl` fetching `/tuf/timestamp.json` and the 304 `/v1/sync?anchor=...` through the same
 *     proxy, the least any client must ask. The ratio is agent / curl (above 1: the agent is
 *     slower). The proxy also records one cycle of each and breaks the bytes down by request
 *     (what the agent asks that curl does not: GET /v1/site, the TUF root-rotation probe...).
 *     The agent runs in-process (runCycle), so Node's start-up is not counted; curl's process
 *     start is, which favours the agent slightly.
 * (b) N simulated agents (BENCH_AGENTS, default 1,000, at most 20,000) against one `upcat serve`:
 *     a second Node process registers them (16 at a time), takes one full sync each for its
 *     anchor and one timestamp.json for its ETag, then runs one "nothing new" cycle per agent
 *     (timestamp.json with If-None-Match, then the 304 sync), BENCH_CONCURRENCY (64) at a time.
 *     Reports the success rate over all N agents (a failed registration or first sync is a
 *     failed agent), the p50/p99 request latency the agents measured on loopback, and the
 *     server's own p50/p99 for the same requests, read from its `GET /metrics` histogram
 *     scraped just before and just after the load (the difference is exactly those requests).
 * Run: node --import tsx bench/agent-sync.ts   (BENCH_AGENTS=50 for a quick check)
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { pino } from 'pino';
import { runCycle } from '../src/agent/cycle.js';
import { initSite } from '../src/app.js';
import {
  bucketsBetween,
  histogramBuckets,
  histogramQuantile,
  parseExposition,
} from './prometheus.js';
import { pool, scrape } from './sim.js';
import type { BenchResult } from './types.js';
import { assertBuilt, CLI, ROOT, freePort, median, timed, waitForHttp, workDir } from './util.js';
import { countingProxy, describe, exchanges, type Exchange } from './wire.js';

const AGENTS = Math.min(Number(process.env['BENCH_AGENTS'] ?? 1000), 20_000);
const CONCURRENCY = Number(process.env['BENCH_CONCURRENCY'] ?? 64);
const CYCLES = 10;

export async function run(): Promise<BenchResult> {
  assertBuilt(); // it runs the built CLI
  const dir = await workDir('agent-sync');
  const home = path.join(dir, 'site');
  await rm(home, { recursive: true, force: true });
  await rm(path.join(dir, 'agent'), { recursive: true, force: true });
  const { mkdir } = await import('node:fs/promises');
  await mkdir(home, { recursive: true });
  await writeFile(
    path.join(home, 'upcat.config.json'),
    JSON.stringify({ site: { approval: 'auto-all' }, log: { level: 'warn' } }),
  );
  await initSite({ home, env: {} });
  const port = await freePort();
  const server = spawn(
    process.execPath,
    [CLI, 'serve', '--port', String(port), '--host', '127.0.0.1'],
    {
      env: { ...process.env, UPCAT_HOME: home },
      stdio: 'ignore',
    },
  );
  try {
    await waitForHttp(`http://127.0.0.1:${port}/healthz`);
    const proxy = await countingProxy(port);
    const url = `http://127.0.0.1:${proxy.port}`;
    const inventory = path.join(dir, 'inventory.json');
    await writeFile(
      inventory,
      JSON.stringify({ platform: { name: 'linux', architecture: 'x64' }, files: {} }),
    );
    const options = {
      stateDir: path.join(dir, 'agent'),
      server: url,
      inventory,
      hardwareId: 'bench-agent',
      properties: {},
      installOptional: false,
      handlerTimeoutMs: 60_000,
      agentVersion: '0.1.0',
      log: pino({ level: 'silent' }),
      env: {},
    };
    await runCycle(options); // registers, pins the roots, first full sync
    await runCycle(options);
    const times: number[] = [];
    const bytes: number[] = [];
    let agentWire: Exchange[] = [];
    for (let i = 0; i < CYCLES; i++) {
      const b0 = proxy.bytes();
      const recording = i === 0 ? proxy.record() : undefined;
      const t0 = process.hrtime.bigint();
      const report = await runCycle(options);
      times.push(Number(process.hrtime.bigint() - t0) / 1e6);
      bytes.push(proxy.bytes() - b0);
      if (recording !== undefined) agentWire = exchanges(recording.stop());
      if (report.sync !== 'unchanged')
        throw new Error(`expected an unchanged policy, got ${report.sync}`);
    }
    const state = JSON.parse(await readFile(path.join(dir, 'agent', 'state.json'), 'utf8')) as {
      secret: string;
      anchor: string;
    };
    const curlTimes: number[] = [];
    const curlBytes: number[] = [];
    let curlWire: Exchange[] = [];
    for (let i = 0; i < CYCLES; i++) {
      const b0 = proxy.bytes();
      const recording = i === 0 ? proxy.record() : undefined;
      const r = await timed('curl', [
        '-s',
        '-o',
        '/dev/null',
        '-o',
        '/dev/null',
        '-w',
        '%{http_code} ',
        '-H',
        `Authorization: Bearer ${state.secret}`,
        `${url}/tuf/timestamp.json`,
        `${url}/v1/sync?anchor=${encodeURIComponent(state.anchor)}`,
      ]);
      if (recording !== undefined) curlWire = exchanges(recording.stop());
      if (!r.stdout.includes('304')) throw new Error(`curl did not get a 304: ${r.stdout}`);
      curlTimes.push(r.ms);
      curlBytes.push(proxy.bytes() - b0);
    }
    proxy.close();
    // The wire breakdown, for the docs: which requests and headers the bytes are.
    const wireFile = path.join(dir, 'wire.txt');
    await writeFile(wireFile, wireReport(agentWire, curlWire));
    process.stderr.write(`agent-sync: wire breakdown in ${wireFile}\n`);
    const sim = await simulateInChild(`http://127.0.0.1:${port}`);
    const agentMs = median(times);
    const curlMs = median(curlTimes);
    return {
      name: `agent sync cycle, nothing to do; ${AGENTS} simulated agents`,
      reference: 'curl fetching timestamp.json and the 304 sync (the same URLs, same proxy)',
      ratio: Number((agentMs / curlMs).toFixed(2)),
      figures: {
        'agent cycle median ms': Number(agentMs.toFixed(1)),
        'agent cycle bytes on the wire': median(bytes),
        'agent requests per cycle': agentWire.length,
        'curl median ms': Number(curlMs.toFixed(1)),
        'curl bytes on the wire': median(curlBytes),
        'curl requests': curlWire.length,
        'ratio (agent / curl) of median times': Number((agentMs / curlMs).toFixed(2)),
        'simulated agents': AGENTS,
        'simulated concurrency': CONCURRENCY,
        'simulated success rate': sim.successRate,
        'simulated setup failures (registration or first sync)': sim.setupFailures,
        'simulated timestamp.json answered 304': sim.timestamp304,
        'agents p50 ms (seen by the agents)': sim.p50,
        'agents p99 ms (seen by the agents)': sim.p99,
        'server p50 ms (its /metrics histogram)': sim.server.p50,
        'server p99 ms (its /metrics histogram)': sim.server.p99,
        'server p99 ms, timestamp.json': sim.server.p99Timestamp,
        'server p99 ms, /v1/sync': sim.server.p99Sync,
        'server requests counted': sim.server.requests,
        'server syncs answered from memory (fast path)': sim.server.syncsFromMemory,
        'simulated cycles per second': sim.perSecond,
        'load average (1, 5, 15 min) at the end': os
          .loadavg()
          .map((l) => l.toFixed(2))
          .join(' '),
      },
    };
  } finally {
    server.kill('SIGTERM');
  }
}

/** The agent's cycle and curl's, request by request, and the headers only the agent sent. */
function wireReport(agent: Exchange[], curl: Exchange[]): string {
  const headerNames = (list: Exchange[]): Set<string> =>
    new Set(list.flatMap((e) => e.request.headers.map(([k]) => k)));
  const curlHeaders = headerNames(curl);
  const extra = [...headerNames(agent)].filter((h) => !curlHeaders.has(h));
  const sum = (list: Exchange[], f: (e: Exchange) => number): number =>
    list.reduce((n, e) => n + f(e), 0);
  const totals = (list: Exchange[]): string =>
    `requests ${sum(list, (e) => e.request.headBytes + e.request.bodyBytes)} B, responses ${sum(
      list,
      (e) => (e.response?.headBytes ?? 0) + (e.response?.bodyBytes ?? 0),
    )} B`;
  const headersOf = (list: Exchange[]): string[] =>
    list.map(
      (e) =>
        `${e.request.startLine.replace(/\?.*? /, '?... ')}\n${e.request.headers
          .map(([k, v]) => `    ${k}: ${k === 'authorization' ? '<redacted>' : v.slice(0, 80)}`)
          .join('\n')}`,
    );
  return [
    `agent cycle (${agent.length} requests; ${totals(agent)}):`,
    ...describe(agent).map((l) => `  ${l}`),
    `curl (${curl.length} requests; ${totals(curl)}):`,
    ...describe(curl).map((l) => `  ${l}`),
    `request headers the agent sends and curl does not: ${extra.join(', ') || 'none'}`,
    'agent request headers:',
    ...headersOf(agent),
    'curl request headers:',
    ...headersOf(curl),
    '',
  ].join('\n');
}

interface SimResult {
  successRate: number;
  setupFailures: number;
  timestamp304: number;
  p50: number;
  p99: number;
  perSecond: number;
  server: {
    p50: number;
    p99: number;
    p99Timestamp: number;
    p99Sync: number;
    requests: number;
    syncsFromMemory: number;
  };
}

function simulateInChild(url: string): Promise<SimResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', path.join(ROOT, 'bench', 'agent-sync.ts')],
      {
        env: { ...process.env, BENCH_SIMULATE_URL: url },
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0
        ? resolve(JSON.parse(out) as SimResult)
        : reject(new Error(`simulation exited ${code}`)),
    );
  });
}

interface SimAgent {
  secret: string;
  anchor: string;
  etag: string;
}

/** One agent's setup: register, the first (full) sync, the first timestamp.json. */
async function setUp(url: string): Promise<SimAgent> {
  const reg = await fetch(`${url}/v1/clients`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      hardwareId: randomUUID(),
      name: 'sim',
      os: 'linux',
      architecture: 'x64',
      clientVersion: '0.1.0',
    }),
  });
  if (reg.status !== 201) throw new Error(`registration: ${reg.status}`);
  const { secret } = (await reg.json()) as { secret: string };
  const s = await fetch(`${url}/v1/sync`, { headers: { authorization: `Bearer ${secret}` } });
  if (s.status !== 200) throw new Error(`first sync: ${s.status}`);
  const { anchor } = (await s.json()) as { anchor: string };
  const ts = await fetch(`${url}/tuf/timestamp.json`);
  await ts.arrayBuffer();
  const etag = ts.headers.get('etag');
  if (ts.status !== 200 || etag === null) throw new Error(`timestamp.json: ${ts.status}`);
  return { secret, anchor, etag };
}

/** The second process: N in-process simulated agents. */
async function simulate(url: string): Promise<SimResult> {
  const agents: SimAgent[] = [];
  let setupFailures = 0;
  await pool(AGENTS, 16, async () => {
    try {
      agents.push(await setUp(url));
    } catch {
      setupFailures += 1; // an agent that cannot register or sync has failed its cycle
    }
  });
  const before = await scrape(url);
  const latencies: number[] = [];
  let ok = 0;
  let timestamp304 = 0;
  const t0 = Date.now();
  let next = 0;
  await pool(agents.length, CONCURRENCY, async () => {
    const a = agents[next++];
    if (a === undefined) return;
    try {
      const s0 = process.hrtime.bigint();
      const ts = await fetch(`${url}/tuf/timestamp.json`, {
        headers: { 'if-none-match': a.etag },
      });
      await ts.arrayBuffer();
      const s1 = process.hrtime.bigint();
      const sync = await fetch(`${url}/v1/sync?anchor=${encodeURIComponent(a.anchor)}`, {
        headers: { authorization: `Bearer ${a.secret}` },
      });
      await sync.arrayBuffer();
      const s2 = process.hrtime.bigint();
      latencies.push(Number(s1 - s0) / 1e6, Number(s2 - s1) / 1e6);
      if (ts.status === 304) timestamp304 += 1;
      // A re-signed timestamp (the refresh timer) would be a 200: still a good answer.
      if ((ts.status === 200 || ts.status === 304) && sync.status === 304) ok += 1;
    } catch {
      // counted as a failure
    }
  });
  const seconds = (Date.now() - t0) / 1000;
  const after = await scrape(url);
  latencies.sort((x, y) => x - y);
  const at = (q: number): number =>
    round2(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN);
  return {
    successRate: Number((ok / AGENTS).toFixed(4)),
    setupFailures,
    timestamp304,
    p50: at(0.5),
    p99: at(0.99),
    perSecond: Number((agents.length / seconds).toFixed(0)),
    server: serverFigures(before, after),
  };
}

/**
 * The server's latency for the load's requests: the histogram's growth between the two scrapes,
 * for the two routes the cycle asks (both answered on the fast paths, before Express).
 */
function serverFigures(
  before: ReturnType<typeof parseExposition>,
  after: ReturnType<typeof parseExposition>,
): SimResult['server'] {
  const name = 'upcat_http_request_duration_seconds';
  const of = (routes: string[]): Map<number, number> => {
    const select = (l: Record<string, string>): boolean =>
      l['method'] === 'GET' && routes.includes(l['route'] ?? '');
    return bucketsBetween(
      histogramBuckets(before.get(name), select),
      histogramBuckets(after.get(name), select),
    );
  };
  const both = of(['/tuf/:file', '/v1/sync']);
  const memory = (m: ReturnType<typeof parseExposition>): number =>
    m
      .get('upcat_syncs_total')
      ?.samples.find((s) => s.labels['path'] === 'memory' && s.labels['result'] === 'not_modified')
      ?.value ?? 0;
  const ms = (q: number, b: Map<number, number>): number => round2(histogramQuantile(q, b) * 1000);
  return {
    p50: ms(0.5, both),
    p99: ms(0.99, both),
    p99Timestamp: ms(0.99, of(['/tuf/:file'])),
    p99Sync: ms(0.99, of(['/v1/sync'])),
    requests: both.get(Infinity) ?? 0,
    syncsFromMemory: memory(after) - memory(before),
  };
}

const round2 = (v: number): number => Number(v.toFixed(2));

const simulateUrl = process.env['BENCH_SIMULATE_URL'];
if (
  simulateUrl !== undefined &&
  process.argv[1] !== undefined &&
  import.meta.url === pathToFileURL(process.argv[1]).href
) {
  process.stdout.write(JSON.stringify(await simulate(simulateUrl)));
} else if (
  process.argv[1] !== undefined &&
  import.meta.url === pathToFileURL(process.argv[1]).href
) {
  console.log(JSON.stringify(await run(), null, 2));
}
