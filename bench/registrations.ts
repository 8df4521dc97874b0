/**
 * Issue 16 benchmark: registrations per second (`POST /v1/clients`) with their p99, against
 * GET /healthz of the same server (the floor of the HTTP stack; ratio = registrations/s over
 * healthz/s). Target: at least 1,000 registrations/s.
 *
 * `upcat serve` (one process; embedded SQLite, or PostgreSQL with BENCH_DATABASE_URL, a schema of
 * its own dropped first) on loopback, load from wrk in a second process: BENCH_CONNECTIONS (64)
 * connections each registering a fresh hardware ID in a loop, as a site's machines do when an
 * enrollment rolls out. Each registration is committed before it is answered. A warm-up of 3 s
 * (JIT), then BENCH_WRK_SECONDS (10) measured. Beside the wall rate, the server's CPU time per
 * registration (user + system from /proc): other agents share this machine, and CPU per request
 * moves far less with their load than the wall rate does. Afterwards the site is opened and its
 * clients counted: every 201 must be a row (a batch that answered before committing would show).
 * BENCH_CPU_PROF=<dir> profiles the server (node --cpu-prof; read it with cpu-profile-top.ts).
 * Run: node --import tsx bench/registrations.ts
 */
import type { ChildProcess } from 'node:child_process';
import { loadavg } from 'node:os';
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { initSite, openSite } from '../src/app.js';
import { cpuMs, spawnServe, usePostgresIfAsked } from './sim.js';
import { COUNTING_LUA, ensureWrk, registerLua, runWrk, type WrkFigures } from './wrk.js';
import type { BenchResult } from './types.js';
import { freePort, waitForHttp, workDir } from './util.js';

const SECONDS = Number(process.env['BENCH_WRK_SECONDS'] ?? 10);
const CONNECTIONS = Number(process.env['BENCH_CONNECTIONS'] ?? 64);
const PROFILE_DIR = process.env['BENCH_CPU_PROF'];
const TARGET_RPS = 1000;

export async function run(): Promise<BenchResult> {
  ensureWrk();
  const dir = await workDir('registrations');
  const home = path.join(dir, 'site');
  await rm(home, { recursive: true, force: true });
  const env: NodeJS.ProcessEnv = { UPCAT_HOME: home, PATH: process.env['PATH'] ?? '' };
  await usePostgresIfAsked(env, 'bench_registrations');
  await initSite({ home, env });
  const scripts = await writeScripts(dir);
  const port = await freePort();
  const server = spawnServe(
    env,
    port,
    PROFILE_DIR === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', PROFILE_DIR],
  );
  const url = `http://127.0.0.1:${port}`;
  let warm: WrkFigures;
  let reg: { f: WrkFigures; cpuMs: number };
  let health: WrkFigures;
  const loadAtStart = loadavg()[0] ?? 0;
  try {
    await waitForHttp(`${url}/healthz`, 60_000);
    warm = await wrk(scripts.warm, url, 3);
    const before = await cpuMs(server.pid);
    const f = await wrk(scripts.register, url, SECONDS);
    reg = { f, cpuMs: (await cpuMs(server.pid)) - before };
    health = await wrk(scripts.health, url, 5);
  } finally {
    server.kill('SIGTERM');
    await exited(server);
  }
  const rows = await countClients(home, env);
  const answered = (warm.statuses['201'] ?? 0) + (reg.f.statuses['201'] ?? 0);
  const allCreated = Object.keys(reg.f.statuses).every((k) => k === '201');
  // Requests still in flight when wrk stops are committed without being counted: rows >= 201s.
  const met = reg.f.rps >= TARGET_RPS && allCreated && rows >= answered;
  return {
    name: `registrations (POST /v1/clients, fresh hardware IDs, ${CONNECTIONS} connections; upcat serve, ${process.env['BENCH_DATABASE_URL'] === undefined ? 'embedded SQLite' : 'PostgreSQL'})`,
    figures: {
      'load average (1 min) at start': round(loadAtStart, 2),
      'load average (1 min) at the end': round(loadavg()[0] ?? 0, 2),
      'seconds measured': SECONDS,
      'registrations/s': Math.round(reg.f.rps),
      'p50 ms': reg.f.p50Ms,
      'p99 ms': reg.f.p99Ms,
      statuses: JSON.stringify(reg.f.statuses),
      'socket errors': reg.f.socketErrors,
      'server CPU ms per registration':
        reg.f.requests === 0 ? 'n/a' : round(reg.cpuMs / reg.f.requests, 3),
      'client rows / 201 answers': `${rows} / ${answered}`,
      'reference: GET /healthz/s': Math.round(health.rps),
    },
    reference: 'wrk on GET /healthz against the same server',
    ratio: health.rps === 0 ? 0 : round(reg.f.rps / health.rps, 3),
    target: `>= ${TARGET_RPS} registrations/s (p99 reported), every answer 201 and every 201 a row`,
    met,
  };
}

async function writeScripts(
  dir: string,
): Promise<{ warm: string; register: string; health: string }> {
  const files = {
    warm: path.join(dir, 'warm.lua'),
    register: path.join(dir, 'register.lua'),
    health: path.join(dir, 'health.lua'),
  };
  // Each run (warm-up, measured) has its own hardware ID prefix: every registration is fresh.
  await writeFile(files.warm, registerLua('warm'));
  await writeFile(files.register, registerLua('reg'));
  await writeFile(
    files.health,
    `${COUNTING_LUA}\nfunction request() return wrk.format("GET", "/healthz") end\n`,
  );
  return files;
}

async function countClients(home: string, env: NodeJS.ProcessEnv): Promise<number> {
  const site = await openSite({ home, env, logLevel: 'silent' });
  try {
    const row = (await site.db('clients').count({ n: '*' }).first()) as { n: number | string };
    return Number(row.n);
  } finally {
    await site.close();
  }
}

function wrk(script: string, url: string, seconds: number): Promise<WrkFigures> {
  return runWrk(script, url, seconds, { threads: 1, connections: CONNECTIONS });
}

function exited(child: ChildProcess): Promise<void> {
  return child.exitCode !== null
    ? Promise.resolve()
    : new Promise((resolve) => child.once('exit', () => resolve()));
}

function round(n: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  console.log(JSON.stringify(await run(), null, 2));
}
