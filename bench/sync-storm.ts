/**
 * The patch-day sync storm of issue 16 item 3 (run from patch-day-storm.ts, whose header says
 * what it measures): N clients each sync once with nothing new (the reference), then once more
 * after a new client build is deployed to All Computers. Not a benchmark file of its own (no
 * `run` export).
 */
import type { ChildProcess } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import knexFactory from 'knex';
import { initSite, openSite } from '../src/app.js';
import { cpuMs, memoryMb, scrape, serverPids, spawnServe, usePostgresIfAsked } from './sim.js';
import { bulkClients, warmed } from './site-sync.js';
import type { BenchResult } from './types.js';
import { freePort, waitForHttp, workDir } from './util.js';
import { ensureWrk, runWrk, type WrkFigures } from './wrk.js';

const CLIENTS = Number(process.env['BENCH_CLIENTS'] ?? 100_000);
const CONNECTIONS = Number(process.env['BENCH_STORM_CONNECTIONS'] ?? 64);
/** wrk's own bound; the run ends at the last client's answer, long before on any working node. */
const BOUND_S = Number(process.env['BENCH_DEADLINE_S'] ?? 600);
const DATABASE_URL = process.env['BENCH_DATABASE_URL'];
/**
 * The node's server processes (server.workers): by default one per core of this machine, as an
 * operator would run it; BENCH_WORKERS=1 measures one process. CPU, bytes written and peak RSS
 * are summed over the primary and its workers.
 */
const WORKERS = Number(process.env['BENCH_WORKERS'] ?? os.availableParallelism());
const TARGET_S = 60;
/**
 * The paced storm: syncs offered at this fixed rate (per second), the rate at which the issue asks
 * for a p99 under 50 ms, a little over its 2,000/s. wrk has no rate option (wrk2, which has, is
 * not packaged in Debian): the script schedules each send itself (pacingLua).
 */
const STORM_RATE = 2_100;
/** The same for the nothing-new run, where the issue asks for a p99 under 20 ms at 10,000/s. */
const REFERENCE_RATE = 10_500;
/**
 * The first tenth of the clients make their first syncs, at the paced reference's rate, before it
 * is measured on the rest: the first second after a server process starts is slower, most likely
 * while V8 compiles the sync path (measured on its own, p99 115-251 ms where the next 90,000 had
 * 8-13 ms; docs/BENCHMARKS.md round nine). Its figures are reported ("just after start"),
 * not hidden; the measured syncs are still each client's first, every anchor opened.
 */
const WARMUP = Math.round(CLIENTS / 10);
/** wrk's request timeout (wrk.ts, 5 s) and a margin: see stormScript. */
const LOST_AFTER_MS = 6_000;

export async function runSyncStorm(): Promise<BenchResult> {
  ensureWrk();
  const dir = await workDir('sync-storm');
  const home = path.join(dir, 'site');
  await rm(home, { recursive: true, force: true });
  await mkdir(home, { recursive: true });
  await writeFile(
    path.join(home, 'upcat.config.json'),
    JSON.stringify({
      site: { approval: 'auto-all' },
      server: { workers: WORKERS },
      log: { level: 'warn' },
    }),
  );
  const env: NodeJS.ProcessEnv = { UPCAT_HOME: home, PATH: process.env['PATH'] ?? '' };
  await usePostgresIfAsked(env, 'bench_sync_storm');
  await initSite({ home, env });
  const clientsFile = path.join(dir, 'clients.txt');
  const setupStart = Date.now();
  let site = await openSite({ home, env, logLevel: 'silent' });
  try {
    await bulkClients(site, clientsFile, CLIENTS, 0);
  } finally {
    await site.close();
  }
  const setupSeconds = (Date.now() - setupStart) / 1000;
  const lua = path.join(dir, 'storm.lua');
  const doneFile = path.join(dir, 'storm.done');
  await writeFile(lua, stormScript(clientsFile, CLIENTS, doneFile));
  const pacedLua = path.join(dir, 'storm-paced.lua');
  await writeFile(pacedLua, stormScript(clientsFile, CLIENTS, doneFile, STORM_RATE));
  // The paced reference's clients: the first WARMUP warm the server, the rest are measured.
  const lines = (await readFile(clientsFile, 'utf8')).split('\n').filter((l) => l !== '');
  const warmupFile = path.join(dir, 'clients-warmup.txt');
  const measuredFile = path.join(dir, 'clients-measured.txt');
  await writeFile(warmupFile, lines.slice(0, WARMUP).join('\n') + '\n');
  await writeFile(measuredFile, lines.slice(WARMUP).join('\n') + '\n');
  const warmupLua = path.join(dir, 'reference-warmup.lua');
  await writeFile(warmupLua, stormScript(warmupFile, WARMUP, doneFile, REFERENCE_RATE));
  const pacedReferenceLua = path.join(dir, 'reference-paced.lua');
  await writeFile(
    pacedReferenceLua,
    stormScript(measuredFile, CLIENTS - WARMUP, doneFile, REFERENCE_RATE),
  );
  const wrkOnce = async (script = lua): Promise<WrkFigures> => {
    await rm(doneFile, { force: true });
    return runWrk(script, url, BOUND_S, { threads: 1, connections: CONNECTIONS }, doneFile);
  };

  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const server = spawnServe(env, port);
  try {
    await waitForHttp(`${url}/healthz`, 60_000);
    await warmed(url, CLIENTS, WORKERS);
    const pids = await serverPids(server.pid);
    if (pids.length !== (WORKERS > 1 ? WORKERS + 1 : 1))
      throw new Error(`bench: expected ${WORKERS} server processes, found ${pids.join(', ')}`);
    const referenceStart = new Date().toISOString();
    // Nothing new, offered at the rate first: each client's first sync since the server
    // started, so every anchor is opened (AES-GCM), the costlier case, while the contacts these
    // syncs note are written behind them. Run second, it would meet anchors the fast path
    // already remembers, and never pay for an open. The first tenth warms the server (WARMUP).
    const warmup = await wrkOnce(warmupLua);
    await scrape(url); // prom-client's event-loop delay restarts at each scrape
    const pacedReference = await measured(pids, () => wrkOnce(pacedReferenceLua));
    const pacedReferenceLag = eventLoopLag(await scrape(url));
    // The same syncs again as fast as the node answers: its capacity for the syncs an hourly
    // endpoint makes once its anchor is remembered (fast-path.ts).
    const reference = await measured(pids, wrkOnce);
    // Hourly syncs record a contact (contacts.ts): these are the reference's writes, all written
    // before the storm starts (so that the storm's figures are its own).
    const referenceContacts = await contactsSince(home, env, referenceStart);
    const referenceBytes = (await writeBytes(pids)) - pacedReference.io0;
    const referenceWal = (await walPosition()) - pacedReference.wal0;
    // Patch day: the build is published and deployed from another process (as the CLI would).
    site = await openSite({ home, env, logLevel: 'silent' });
    let updateId: string;
    try {
      updateId = await publishBuild(site, '2.0');
      await site.deployments.approve(
        { updateId, group: 'All Computers', action: 'install' },
        'bench',
      );
    } finally {
      await site.close();
    }
    // The server sees another process's change within one poll (server.changePollMs, 200 ms).
    await new Promise((r) => setTimeout(r, 1000));
    const stormStart = new Date().toISOString();
    const storm = await measured(pids, wrkOnce);
    const peaks = await Promise.all(pids.map((p) => memoryMb(p, 'VmHWM')));
    // Each process's own peak, summed: at most what they held at once.
    const peakRss = peaks.every((m) => m !== undefined)
      ? peaks.reduce((a, b) => (a ?? 0) + (b ?? 0), 0)
      : undefined;
    const contacts = await contactsSince(home, env, stormStart);
    const stormBytes = (await writeBytes(pids)) - storm.io0;
    const stormWal = (await walPosition()) - storm.wal0;
    // The figure is a rate and a p99 together: the same storm again (another build),
    // offered at about 2,000/s rather than as fast as the node answers, where 64 connections
    // each waiting for an answer make the p99 a queue's.
    site = await openSite({ home, env, logLevel: 'silent' });
    try {
      const next = await publishBuild(site, '2.1');
      await site.deployments.approve(
        { updateId: next, group: 'All Computers', action: 'install' },
        'bench',
      );
    } finally {
      await site.close();
    }
    await new Promise((r) => setTimeout(r, 1000));
    const paced = await measured(pids, () => wrkOnce(pacedLua));
    const seconds = storm.f.requests / storm.f.rps;
    const ok200 = storm.f.statuses['200'] ?? 0;
    // Issue 16's targets: nothing new >= 10,000/s at p99 < 20 ms; the storm >= 2,000/s at p99
    // < 50 ms, every client its policy within a minute.
    const referenceMet =
      reference.f.rps >= 10_000 &&
      (reference.f.statuses['304'] ?? 0) === CLIENTS &&
      (warmup.statuses['304'] ?? 0) === WARMUP &&
      (pacedReference.f.statuses['304'] ?? 0) === CLIENTS - WARMUP &&
      pacedReference.f.rps >= 10_000 &&
      pacedReference.f.p99Ms < 20;
    const stormMet =
      ok200 === CLIENTS && seconds < TARGET_S && storm.f.socketErrors === 0 && storm.f.rps >= 2_000;
    const pacedMet =
      (paced.f.statuses['200'] ?? 0) === CLIENTS && paced.f.rps >= 2_000 && paced.f.p99Ms < 50;
    return {
      name: `patch-day sync storm: ${CLIENTS.toLocaleString('en')} clients sync once after a new client build is deployed to All Computers (${DATABASE_URL === undefined ? 'SQLite' : 'PostgreSQL'})`,
      figures: {
        clients: CLIENTS,
        'server processes (server.workers)': WORKERS,
        'wrk connections': CONNECTIONS,
        'setup (bulk insert, anchors), s': round2(setupSeconds),
        [`just after start: the first ${WARMUP.toLocaleString('en')} clients' first syncs (nothing new, every anchor opened), offered at ${REFERENCE_RATE}/s: syncs/s`]:
          Math.round(warmup.rps),
        'just after start p50 / p99 ms': `${warmup.p50Ms} / ${warmup.p99Ms}`,
        'just after start statuses': JSON.stringify(warmup.statuses),
        [`paced reference (the other ${(CLIENTS - WARMUP).toLocaleString('en')} clients, nothing new, each client's first sync: every anchor opened; offered at ${REFERENCE_RATE}/s): syncs/s`]:
          Math.round(pacedReference.f.rps),
        'paced reference p50 / p99 ms': `${pacedReference.f.p50Ms} / ${pacedReference.f.p99Ms}`,
        'paced reference statuses': JSON.stringify(pacedReference.f.statuses),
        'paced reference server CPU ms per sync': round3(pacedReference.cpuMs / (CLIENTS - WARMUP)),
        'paced reference event-loop delay p99 / max ms, per server process': pacedReferenceLag,
        'reference (the same syncs again, anchors remembered, as fast as the node answers): time until the last answer, s':
          round2(reference.f.requests / reference.f.rps),
        'reference syncs/s': Math.round(reference.f.rps),
        'reference p50 / p99 ms': `${reference.f.p50Ms} / ${reference.f.p99Ms}`,
        'reference statuses': JSON.stringify(reference.f.statuses),
        'reference server CPU ms per sync': round3(reference.cpuMs / CLIENTS),
        'reference database writes: client rows whose last_contact moved': referenceContacts.rows,
        'reference contacts all written, s after its last answer': referenceContacts.drainS,
        'server bytes written to storage during the paced reference / until its contacts were written, MB': `${round2(pacedReference.writeBytes / 1e6)} / ${round2(referenceBytes / 1e6)}`,
        ...(DATABASE_URL === undefined
          ? {}
          : {
              'PostgreSQL WAL during the paced reference / until its contacts were written, MB': `${round2(pacedReference.walBytes / 1e6)} / ${round2(referenceWal / 1e6)}`,
            }),
        'storm: time until the last client has its policy, s': round2(seconds),
        'storm syncs/s': Math.round(storm.f.rps),
        'storm p50 / p99 ms': `${storm.f.p50Ms} / ${storm.f.p99Ms}`,
        'storm statuses (200 = the policy with the build)': JSON.stringify(storm.f.statuses),
        'storm server CPU ms per sync': round3(storm.cpuMs / CLIENTS),
        [`paced storm (another build, offered at ${STORM_RATE}/s): syncs/s`]: Math.round(
          paced.f.rps,
        ),
        'paced storm p50 / p99 ms': `${paced.f.p50Ms} / ${paced.f.p99Ms}`,
        'paced storm statuses': JSON.stringify(paced.f.statuses),
        'storm database writes: client rows whose last_contact moved': contacts.rows,
        'storm server bytes written to storage (/proc/<pid>/io write_bytes) during it / until its contacts were written, MB': `${round2(storm.writeBytes / 1e6)} / ${round2(stormBytes / 1e6)}`,
        ...(DATABASE_URL === undefined
          ? {}
          : {
              'storm PostgreSQL WAL during it / until its contacts were written, MB': `${round2(storm.walBytes / 1e6)} / ${round2(stormWal / 1e6)}`,
            }),
        [WORKERS > 1
          ? 'server peak RSS (VmHWM, primary and workers summed), MB'
          : 'server peak RSS (VmHWM), MB']: peakRss ?? 'n/a',
        'load average (1, 5, 15 min) at the end': os
          .loadavg()
          .map((l) => l.toFixed(2))
          .join(' '),
      },
      reference:
        'the same clients syncing with nothing new (all 304), anchors remembered, as fast as the node answers; same server, same run',
      ratio: Number((storm.f.rps / reference.f.rps).toFixed(2)),
      target: `nothing new offered at ${REFERENCE_RATE.toLocaleString('en')}/s to clients whose anchors are all opened, once the first tenth has warmed the server: >= 10,000/s at p99 < 20 ms, and >= 10,000/s as fast as the node allows (${referenceMet ? 'met' : 'not met'}); new deployment: all ${CLIENTS} answers 200 within ${TARGET_S} s as fast as the node allows, >= 2,000/s (${stormMet ? 'met' : 'not met'}), and offered at ${STORM_RATE.toLocaleString('en')}/s, p99 < 50 ms (${pacedMet ? 'met' : 'not met'})`,
      met: referenceMet && stormMet && pacedMet,
    };
  } finally {
    server.kill('SIGTERM');
    await exited(server);
  }
}

/**
 * wrk's `delay()` (called before each send on a connection after its first) made to offer a fixed
 * rate: every send gets the next slot of one schedule, `rate` slots a second from the first call,
 * and waits until its slot (wrk's timers count whole milliseconds; the slots do not, so the
 * rounding does not accumulate). A connection whose slot has passed sends at once, so when the
 * node cannot keep up the rate measured falls below the one offered, which the targets check
 * (a closed loop, each connection waiting a fixed time after its answer, would offer less
 * whenever answers slowed). As in wrk itself, a sync's latency is counted from when it is sent, not from its slot.
 * The clock, `now_ms`, is CLOCK_MONOTONIC through LuaJIT's FFI (Debian's wrk is built on
 * LuaJIT), defined by stormScript, which also uses it to end a run.
 */
function pacingLua(rate: number): string {
  return `local slot_ms, next_slot = 1000 / ${rate}, nil
function delay()
  local now = now_ms()
  next_slot = next_slot or now
  local wait = next_slot - now
  next_slot = next_slot + slot_ms
  if wait <= 0 then return 0 end
  return math.floor(wait + 0.5)
end
`;
}

/**
 * wrk's script: one thread sends each client's sync exactly once, in file order, and stops at
 * the last answer; a connection that finds no client left asks /healthz (not counted). A sync
 * lost to a dropped connection would keep it waiting for an answer that never comes, so the run
 * also ends LOST_AFTER_MS after the first /healthz answer: every sync has been sent by then, and
 * each one still unanswered is answered or has timed out (wrk --timeout 5 s, counted as a socket
 * error). (Ending once as many /healthz answers as connections came was wrong: connections that
 * were done asked again and again while a slow one still waited for its sync, and up to 33 of
 * 10,000 answers went uncounted.)
 */
function stormScript(clientsFile: string, clients: number, doneFile: string, rate = 0): string {
  return `local ffi = require("ffi")
ffi.cdef[[ typedef struct { long tv_sec; long tv_nsec; } upcat_timespec; int clock_gettime(int clk, upcat_timespec *ts); ]]
local clock = ffi.new("upcat_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, clock)
  return tonumber(clock.tv_sec) * 1000 + tonumber(clock.tv_nsec) / 1e6
end
${rate > 0 ? pacingLua(rate) : ''}
local secrets, anchors, hardware = {}, {}, {}
i, answered, counts = 0, 0, {} -- globals: thread:get reads them in done()
function init(args)
  for line in io.lines("${clientsFile}") do
    local s, a, h = line:match("^(%S+) (%S+) (%S+)$")
    if s then table.insert(secrets, s); table.insert(anchors, a); table.insert(hardware, h) end
  end
end
local verified, first_healthz = false, nil
function request()
  -- wrk calls request() once on thread 0 to check what it returns and never sends that one:
  -- a /healthz, so that no client's sync is lost to it (and harmless if it is sent).
  if not verified then verified = true; return wrk.format("GET", "/healthz") end
  i = i + 1
  if i > #secrets then return wrk.format("GET", "/healthz") end
  return wrk.format("GET", "/v1/sync?anchor=" .. anchors[i], { ["Authorization"] = "Bearer " .. secrets[i], ["Upcat-Hardware-Id"] = hardware[i] })
end
local function finish()
  local f = io.open("${doneFile}", "w"); f:write("done"); f:close()
  wrk.thread:stop()
end
function response(status, headers, body)
  if answered >= ${clients} then return end
  -- A /healthz answer (sent once no client was left) is not a sync's. LOST_AFTER_MS after the
  -- first, every sync that will be answered was (a lost one shows in the statuses).
  if status == 200 and not string.find(body, '"policy"', 1, true) then
    first_healthz = first_healthz or now_ms()
    if now_ms() - first_healthz > ${LOST_AFTER_MS} then finish() end
    return
  end
  local k = tostring(status)
  counts[k] = (counts[k] or 0) + 1
  answered = answered + 1
  if answered >= ${clients} then finish() end
end
local threads = {}
function setup(thread)
  table.insert(threads, thread)
end
function done(summary, latency, requests)
  -- done() runs in the main Lua state: the thread's figures are read from it.
  local t = threads[1]
  answered = t:get("answered")
  local parts = {}
  for k, v in pairs(t:get("counts")) do table.insert(parts, string.format('"%s":%d', k, v)) end
  io.write(string.format('WRK_JSON {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"socket_errors":%d,"statuses":{%s}}\\n',
    answered, summary.duration, latency:percentile(50), latency:percentile(99),
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    table.concat(parts, ",")))
end
`;
}

interface Measured {
  f: WrkFigures;
  cpuMs: number;
  /** During the run itself. */
  writeBytes: number;
  /** write_bytes before the run (for what it wrote until its contacts were all written). */
  io0: number;
  /** PostgreSQL: WAL bytes generated during the run, and the position before it. */
  walBytes: number;
  wal0: number;
}

async function measured(pids: number[], run: () => Promise<WrkFigures>): Promise<Measured> {
  const [cpu0, io0, wal0] = [await cpuOf(pids), await writeBytes(pids), await walPosition()];
  const f = await run();
  return {
    f,
    cpuMs: (await cpuOf(pids)) - cpu0,
    writeBytes: (await writeBytes(pids)) - io0,
    io0,
    walBytes: (await walPosition()) - wal0,
    wal0,
  };
}

/**
 * On PostgreSQL the server itself writes nothing: the database's writes are its WAL (the whole
 * cluster's, so anything else using it in the meantime counts too). 0 on SQLite.
 */
async function walPosition(): Promise<number> {
  if (DATABASE_URL === undefined) return 0;
  const db = knexFactory({ client: 'pg', connection: DATABASE_URL });
  try {
    const r = (await db.raw(`select pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0') as b`)) as {
      rows: Array<{ b: string }>;
    };
    return Number(r.rows[0]?.b ?? 0);
  } finally {
    await db.destroy();
  }
}

async function writeBytes(pids: number[]): Promise<number> {
  let sum = 0;
  for (const pid of pids) {
    const io = await readFile(`/proc/${pid}/io`, 'utf8').catch(() => '');
    sum += Number(/^write_bytes: (\d+)/m.exec(io)?.[1] ?? 0);
  }
  return sum;
}

/**
 * The server's event-loop delay since the previous scrape (prom-client's, sampled every 10 ms),
 * p99 / max in ms for each process (`worker` label with server.workers): tells a stalled event
 * loop (a GC, synchronous work) from a request waiting for a core or in the kernel.
 */
function eventLoopLag(metrics: Awaited<ReturnType<typeof scrape>>): string {
  const of = (name: string): Map<string, number> =>
    new Map(
      (metrics.get(name)?.samples ?? []).map((x) => [x.labels['worker'] ?? '0', x.value * 1000]),
    );
  const p99 = of('nodejs_eventloop_lag_p99_seconds');
  const max = of('nodejs_eventloop_lag_max_seconds');
  return [...p99.keys()]
    .sort()
    .map((w) => `${round2(p99.get(w) ?? NaN)} / ${round2(max.get(w) ?? NaN)}`)
    .join(', ');
}

async function cpuOf(pids: number[]): Promise<number> {
  let sum = 0;
  for (const pid of pids) sum += await cpuMs(pid);
  return sum;
}

/**
 * Client rows whose contacts a run wrote (last_contact at or after its start), once the server
 * has written them all: contacts are written behind the syncs, at most 5,000 per 2 s
 * (contacts.ts), so a storm's are still being written for a while after its last answer. Waits
 * until the count stops moving (bounded); `drainS` is how long after the call it last moved.
 */
async function contactsSince(
  home: string,
  env: NodeJS.ProcessEnv,
  since: string,
): Promise<{ rows: number; drainS: number }> {
  const start = Date.now();
  const site = await openSite({ home, env, logLevel: 'silent' });
  try {
    let rows = -1;
    let movedAt = start;
    for (;;) {
      await new Promise((r) => setTimeout(r, 2500));
      const row = (await site
        .db('clients')
        .where('last_contact', '>=', since)
        .count({ n: '*' })
        .first()) as { n: number | string } | undefined;
      const now = Number(row?.n ?? 0);
      if (now === rows || Date.now() - start > 180_000) break;
      if (rows >= 0) movedAt = Date.now();
      rows = now;
    }
    return { rows, drainS: Math.round((movedAt - start) / 100) / 10 };
  } finally {
    await site.close();
  }
}

/** The new client build (a payload and its manifest; the storm never installs it). */
async function publishBuild(
  site: Awaited<ReturnType<typeof openSite>>,
  version: string,
): Promise<string> {
  const result = await site.publish.publish({
    source: Readable.from([Buffer.from(`contoso client ${version}\n`)]),
    fileName: `contoso-client-${version}.bin`,
    manifest: {
      title: `Contoso Client ${version}`,
      product: 'Contoso Client',
      classification: 'Updates',
      version,
      handler: { type: 'commandLine', program: `contoso-client-${version}.bin` },
    },
    actor: 'bench',
  });
  return result.updateId;
}

function exited(child: ChildProcess): Promise<void> {
  return child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve()
    : new Promise((resolve) => child.once('exit', () => resolve()));
}

const round2 = (v: number): number => Number(v.toFixed(2));
const round3 = (v: number): number => Number(v.toFixed(3));
