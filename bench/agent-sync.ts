/**
 * Issue 6 benchmark: the agent's sync cycle.
 *
 * (a) One agent cycle with nothing to do (registered, policy unchanged): wall time and bytes on
 *     the wire, counted by a TCP proxy between agent and server. Reference, in the same run:
 *     `curl` fetching exactly what such a cycle minimally needs, `/tuf/timestamp.json` and the
 *     304 `/v1/sync?anchor=...`, through the same proxy. curl is the floor of "ask the site
 *     whether anything is new"; the ratio shows what the agent adds (GET /v1/site, the TUF
 *     root-rotation probe tuf-js makes, state writes). The agent runs in-process (runCycle), so
 *     Node's start-up is not counted; curl's process start is, which favours the agent slightly.
 * (b) N simulated agents (BENCH_AGENTS, default 1,000, at most 20,000) against one `upcat serve`:
 *     a second Node process registers them, takes one full sync each for its anchor, then runs
 *     one "nothing new" cycle per agent (timestamp.json with If-None-Match, then the 304 sync),
 *     BENCH_CONCURRENCY (64) at a time. Reports the success rate and the p50/p99 request latency
 *     seen from that process on loopback (the server's latency plus loopback, no network).
 * Run: node --import tsx bench/agent-sync.ts   (BENCH_AGENTS=50 for a quick check)
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { pino } from 'pino';
import { runCycle } from '../src/agent/cycle.js';
import { initSite } from '../src/app.js';
import type { BenchResult } from './types.js';
import { CLI, ROOT, freePort, median, timed, waitForHttp, workDir } from './util.js';

const AGENTS = Math.min(Number(process.env['BENCH_AGENTS'] ?? 1000), 20_000);
const CONCURRENCY = Number(process.env['BENCH_CONCURRENCY'] ?? 64);
const CYCLES = 10;

/** A TCP proxy that counts the bytes both ways. */
async function countingProxy(
  port: number,
): Promise<{ port: number; bytes: () => number; close: () => void }> {
  let total = 0;
  const server = net.createServer((client) => {
    const upstream = net.connect(port, '127.0.0.1');
    client.on('data', (d: Buffer) => (total += d.length));
    upstream.on('data', (d: Buffer) => (total += d.length));
    client.pipe(upstream).pipe(client);
    const end = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end);
    upstream.on('error', end);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address() as net.AddressInfo;
  return { port: address.port, bytes: () => total, close: () => server.close() };
}

export async function run(): Promise<BenchResult> {
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
    for (let i = 0; i < CYCLES; i++) {
      const b0 = proxy.bytes();
      const t0 = process.hrtime.bigint();
      const report = await runCycle(options);
      times.push(Number(process.hrtime.bigint() - t0) / 1e6);
      bytes.push(proxy.bytes() - b0);
      if (report.sync !== 'unchanged')
        throw new Error(`expected an unchanged policy, got ${report.sync}`);
    }
    const { readFile } = await import('node:fs/promises');
    const state = JSON.parse(await readFile(path.join(dir, 'agent', 'state.json'), 'utf8')) as {
      secret: string;
      anchor: string;
    };
    const curlTimes: number[] = [];
    const curlBytes: number[] = [];
    for (let i = 0; i < CYCLES; i++) {
      const b0 = proxy.bytes();
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
      if (!r.stdout.includes('304')) throw new Error(`curl did not get a 304: ${r.stdout}`);
      curlTimes.push(r.ms);
      curlBytes.push(proxy.bytes() - b0);
    }
    const sim = await simulateInChild(`http://127.0.0.1:${port}`);
    proxy.close();
    const agentMs = median(times);
    const curlMs = median(curlTimes);
    return {
      name: `agent sync cycle, nothing to do; ${AGENTS} simulated agents`,
      reference: 'curl fetching timestamp.json and the 304 sync (the same URLs, same proxy)',
      ratio: Number((agentMs / curlMs).toFixed(2)),
      figures: {
        'agent cycle median ms': Number(agentMs.toFixed(1)),
        'agent cycle bytes on the wire': median(bytes),
        'curl median ms': Number(curlMs.toFixed(1)),
        'curl bytes on the wire': median(curlBytes),
        'simulated agents': AGENTS,
        'simulated success rate': sim.successRate,
        'simulated p50 ms': sim.p50,
        'simulated p99 ms': sim.p99,
        'simulated cycles per second': sim.perSecond,
      },
    };
  } finally {
    server.kill('SIGTERM');
  }
}

interface SimResult {
  successRate: number;
  p50: number;
  p99: number;
  perSecond: number;
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

/** The second process: N in-process simulated agents. */
async function simulate(url: string): Promise<SimResult> {
  const agents: Array<{ secret: string; anchor: string; etag?: string }> = [];
  await pool(AGENTS, 16, async () => {
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
    const { secret } = (await reg.json()) as { secret: string };
    const s = await fetch(`${url}/v1/sync`, { headers: { authorization: `Bearer ${secret}` } });
    const { anchor } = (await s.json()) as { anchor: string };
    agents.push({ secret, anchor });
  });
  const latencies: number[] = [];
  let ok = 0;
  const t0 = Date.now();
  let next = 0;
  await pool(agents.length, CONCURRENCY, async () => {
    const a = agents[next++];
    if (a === undefined) return;
    try {
      const s0 = process.hrtime.bigint();
      const ts = await fetch(
        `${url}/tuf/timestamp.json`,
        a.etag === undefined ? {} : { headers: { 'if-none-match': a.etag } },
      );
      await ts.arrayBuffer();
      const s1 = process.hrtime.bigint();
      const sync = await fetch(`${url}/v1/sync?anchor=${encodeURIComponent(a.anchor)}`, {
        headers: { authorization: `Bearer ${a.secret}` },
      });
      await sync.arrayBuffer();
      const s2 = process.hrtime.bigint();
      latencies.push(Number(s1 - s0) / 1e6, Number(s2 - s1) / 1e6);
      if ((ts.status === 200 || ts.status === 304) && sync.status === 304) ok += 1;
    } catch {
      // counted as a failure
    }
  });
  const seconds = (Date.now() - t0) / 1000;
  latencies.sort((x, y) => x - y);
  const at = (q: number): number =>
    Number(
      (latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN).toFixed(
        2,
      ),
    );
  return {
    successRate: Number((ok / agents.length).toFixed(4)),
    p50: at(0.5),
    p99: at(0.99),
    perSecond: Number((agents.length / seconds).toFixed(0)),
  };
}

async function pool(n: number, width: number, task: () => Promise<void>): Promise<void> {
  let started = 0;
  const worker = async (): Promise<void> => {
    while (started < n) {
      started += 1;
      await task();
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, n) }, worker));
}

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
