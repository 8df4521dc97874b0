/**
 * Issue 5 benchmark: with 100,000 registered clients, the sustained rate and p99 latency of
 * (a) a sync with nothing new (304) and (b) a sync that returns one new deployment, plus the
 * registration rate. Target: (a) at least 3,000 syncs per second at p99 under 50 ms on the
 * two-core bench machine (a million endpoints syncing hourly on one node).
 *
 * Setup (not measured): `upcat init`, a few updates published and deployed to All Computers
 * (BENCH_DEPLOYMENTS, 3), then the client records are inserted in bulk through the storage layer
 * (knex, one transaction; registering them over HTTP would take minutes and is measured on its
 * own below), each with a secret and with the anchor its last sync would have returned: the
 * policy of those deployments, sealed with the site's anchor key. As with endpoints that sync
 * hourly at random moments, last contacts are spread over the past hour, so most are older than
 * the server's contact-batching window (site/contacts.ts, 5 minutes) and their sync records a
 * contact, as a real hourly sync does. The load comes from a second process: wrk (Debian's,
 * installed with apt-get when absent) with a Lua script that rotates through every client's
 * secret, anchor and hardware ID (sent as `Upcat-Hardware-Id`, as the agent does). The server is
 * `upcat serve` (one process, embedded SQLite) on loopback. Before (b), one more update is
 * deployed to All Computers, so every anchor is one deployment behind. Registrations go through
 * the real `POST /v1/clients`, each with a fresh hardware ID (an insert and an audit row each,
 * committed with fsync).
 *
 * Before measuring, waits until the 1-minute load average is under 1.5 (or 5 minutes passed),
 * and reports the load at measurement time. Each scenario is bounded (BENCH_WRK_SECONDS, 12 s).
 * Beside each rate: the server's CPU time per request (user + system, from /proc/<pid>/stat),
 * which other work on the shared machine disturbs far less than the wall-clock rate does.
 *
 * Issue 16 additions. BENCH_ONLY=a,b,reg runs only the named scenarios (a profile of one path:
 * BENCH_CPU_PROF=<dir> BENCH_ONLY=b). BENCH_DATABASE_URL=postgres://... runs the server on
 * PostgreSQL (a schema of its own, dropped first) instead of embedded SQLite. After the wrk
 * scenarios, the site is opened in this process behind the real server (startServer) and the
 * database statements of single requests are counted (knex 'query' events), sequentially: a
 * sync that returns the new deployment, the 304 that follows with its anchor, a registration.
 * Run: node --import tsx bench/site-sync.ts (BENCH_CLIENTS=2000 for a quick trial; 100,000 by default)
 */
import type { ChildProcess } from 'node:child_process';
import { loadavg } from 'node:os';
import { randomUUID } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { initSite, openSite, type Site } from '../src/app.js';
import { startServer } from '../src/server/serve.js';
import { findClient } from '../src/site/client-repo.js';
import { issueSecret } from '../src/site/secrets.js';
import { AnchorSealer, holdingOf } from '../src/sync/anchor.js';
import { computePolicy, entryDigest } from '../src/sync/policy.js';
import { ANCHOR_MAX_AGE_MS } from '../src/sync/sync-service.js';
import { loadAnchorKey } from '../src/sync/site-keys.js';
import { currentCatalogVersion } from '../src/storage/catalog-repo.js';
import { cpuMs, scrape, spawnServe, usePostgresIfAsked } from './sim.js';
import { ensureWrk, onlyStatus, registerLua, runWrk, syncLua, type WrkFigures } from './wrk.js';
import type { BenchResult } from './types.js';
import { freePort, waitForHttp, workDir } from './util.js';

const CLIENTS = Number(process.env['BENCH_CLIENTS'] ?? 100_000);
/** Deployments every client already holds (its anchor names them). */
const DEPLOYMENTS = Number(process.env['BENCH_DEPLOYMENTS'] ?? 3);
const HOUR_MS = 3_600_000;
const SECONDS = Number(process.env['BENCH_WRK_SECONDS'] ?? 12);
const THREADS = 1;
const PROFILE_DIR = process.env['BENCH_CPU_PROF'];
const CONNECTIONS = 32;
const TARGET_RPS = 3000;
const TARGET_P99_MS = 50;
const LOAD_CEILING = 1.5;
const LOAD_WAIT_MS = Number(process.env['BENCH_LOAD_WAIT_S'] ?? 300) * 1000;
const ONLY = new Set((process.env['BENCH_ONLY'] ?? 'a,b,reg').split(','));
const DATABASE_URL = process.env['BENCH_DATABASE_URL'];
/** Requests of each kind whose statements are counted. */
const COUNTED = 20;

export async function run(): Promise<BenchResult> {
  ensureWrk();
  const dir = await workDir('site-sync');
  const home = path.join(dir, 'site');
  await rm(home, { recursive: true, force: true });
  const env: NodeJS.ProcessEnv = { UPCAT_HOME: home, PATH: process.env['PATH'] ?? '' };
  await usePostgresIfAsked(env, 'bench_site_sync');
  await initSite({ home, env });
  const site = await openSite({ home, env, logLevel: 'silent' });
  const clientsFile = path.join(dir, 'clients.txt');
  let updateId: string;
  try {
    site.config.site.approval = 'auto-all';
    for (let i = 0; i < DEPLOYMENTS; i++) await deployIn(site, await publishOne(site, `held-${i}`));
    updateId = await publishOne(site, 'new');
    await bulkClients(site, clientsFile, CLIENTS, DEPLOYMENTS);
  } finally {
    await site.close();
  }
  const lua = await writeScripts(dir, clientsFile);

  const port = await freePort();
  // BENCH_CPU_PROF=<dir>: profile the server (node --cpu-prof) to find the hot path.
  const server = spawnServe(
    env,
    port,
    PROFILE_DIR === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', PROFILE_DIR],
  );
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitForHttp(`${url}/healthz`, 60_000);
    // The fast path loads the clients in the background; measure once it holds them all.
    await warmed(url, CLIENTS);
    const load = await quietMachine();
    const pid = server.pid;
    const skipped: WrkFigures = {
      rps: 0,
      p50Ms: 0,
      p99Ms: 0,
      requests: 0,
      statuses: {},
      socketErrors: 0,
    };
    // Warm up (JIT, SQLite page cache) on the nothing-new path.
    await wrk(lua.sync304, url, 3);
    const none = ONLY.has('a')
      ? await measured(pid, () => wrk(lua.sync304, url, SECONDS))
      : { f: skipped, cpuMs: 0 };
    const loadAfterA = loadavg()[0] ?? 0;
    const rssAfterA = await memoryOf(server.pid, 'VmRSS');
    await deploy(home, env, updateId);
    const one = ONLY.has('b')
      ? await measured(pid, () => wrk(lua.sync200, url, SECONDS))
      : { f: skipped, cpuMs: 0 };
    const reg = ONLY.has('reg')
      ? await measured(pid, () => wrk(lua.register, url, Math.min(SECONDS, 10)))
      : { f: skipped, cpuMs: 0 };
    const peakRss = await memoryOf(server.pid, 'VmHWM');
    server.kill('SIGTERM');
    await exited(server);
    const counts = await countQueries(home, env, clientsFile);
    const met = none.f.rps >= TARGET_RPS && none.f.p99Ms < TARGET_P99_MS && only(none.f, '304');
    const perRequest = (m: { f: WrkFigures; cpuMs: number }): number | string =>
      m.f.requests === 0 ? 'n/a' : round3(m.cpuMs / m.f.requests);
    return {
      name: `client sync with ${CLIENTS.toLocaleString('en')} registered clients holding ${DEPLOYMENTS} deployments each (upcat serve, ${DATABASE_URL === undefined ? 'embedded SQLite' : 'PostgreSQL'})`,
      figures: {
        'load average (1 min) at start': round2(load),
        'load average (1 min) after (a)': round2(loadAfterA),
        'load average (1 min) at the end': round2(loadavg()[0] ?? 0),
        'wrk threads x connections': `${THREADS} x ${CONNECTIONS}`,
        'seconds per scenario': SECONDS,
        '(a) nothing new: syncs/s': Math.round(none.f.rps),
        '(a) p50 ms': none.f.p50Ms,
        '(a) p99 ms': none.f.p99Ms,
        '(a) statuses': JSON.stringify(none.f.statuses),
        '(a) server CPU ms per sync': perRequest(none),
        '(b) one new deployment: syncs/s': Math.round(one.f.rps),
        '(b) p50 ms': one.f.p50Ms,
        '(b) p99 ms': one.f.p99Ms,
        '(b) statuses': JSON.stringify(one.f.statuses),
        '(b) server CPU ms per sync': perRequest(one),
        'registrations/s': Math.round(reg.f.rps),
        'registration p99 ms': reg.f.p99Ms,
        'registration statuses': JSON.stringify(reg.f.statuses),
        'registration server CPU ms each': perRequest(reg),
        'statements per (b) sync (median of 20, first one)': counts.newDeployment,
        'statements per (a) sync after it (median of 20)': counts.nothingNew,
        'statements per registration (median of 20)': counts.registration,
        'statements of the batched last_contact write for those 20 clients': counts.contactFlush,
        'server RSS after (a), MB': rssAfterA ?? 'n/a',
        'server peak RSS, MB': peakRss ?? 'n/a',
      },
      target: `(a) >= ${TARGET_RPS} syncs/s, p99 < ${TARGET_P99_MS} ms, all 304`,
      met,
    };
  } finally {
    server.kill('SIGTERM');
    await exited(server);
  }
}

/**
 * The client records, inserted through knex in one transaction (setup, not measured), and for
 * each a line `<secret> <anchor> <hardwareId>` for wrk: the anchor is what a sync at this
 * catalog version returns, naming the deployments every client holds (its policy is the same as
 * every other's: All Computers, 100%; computed once, for the first client, by the sync code).
 * Also used by patch-day-storm.ts.
 */
export async function bulkClients(
  site: Site,
  file: string,
  clients: number,
  deployments: number,
): Promise<void> {
  const sealer = new AnchorSealer(await loadAnchorKey(site.config.dirs.signing), ANCHOR_MAX_AGE_MS);
  const catalogVersion = await currentCatalogVersion(site.db);
  const lines: string[] = [];
  const at = new Date().toISOString();
  const start = Date.now();
  let holding: ReturnType<typeof holdingOf> | undefined;
  await site.db.transaction(async (trx) => {
    const CHUNK = 500; // under SQLite's bound-parameter limit
    for (let i = 0; i < clients; i += CHUNK) {
      const rows = [];
      const secrets: string[] = [];
      for (let j = i; j < Math.min(clients, i + CHUNK); j++) {
        const clientId = randomUUID();
        const { secret, hash } = issueSecret(clientId);
        secrets.push(secret);
        rows.push({
          client_id: clientId,
          hardware_id: `bench-hw-${j}`,
          name: `bench-${j}`,
          os: 'linux debian 12',
          architecture: 'x64',
          client_version: '1.0.0',
          secret_hash: hash,
          approval: 'approved',
          blocked: false,
          record_state: 'active',
          created_at: at,
          // An hourly sync at a random moment of the past hour (a fixed spread, for repeatable runs).
          last_contact: new Date(start - ((j * 7919) % HOUR_MS)).toISOString(),
          trusted: true,
        });
      }
      await trx('clients').insert(rows);
      if (holding === undefined) {
        const first = await findClient(trx, rows[0]?.client_id ?? '');
        if (first === undefined) throw new Error('bench: the first client was not inserted');
        const entries = await computePolicy(trx, first);
        if (entries.length !== deployments) throw new Error(`bench: policy of ${entries.length}`);
        holding = holdingOf(Object.fromEntries(entries.map((e) => [e.updateId, entryDigest(e)])));
      }
      for (const [k, row] of rows.entries()) {
        const anchor = sealer.seal({
          clientId: row.client_id,
          catalogVersion,
          epoch: 0,
          status: 'approved',
          ...holding,
          issued: Date.now(),
        });
        lines.push(`${secrets[k] ?? ''} ${anchor} ${row.hardware_id}`);
      }
    }
  });
  await writeFile(file, `${lines.join('\n')}\n`);
}

/** One update, published before the anchors are sealed (at its catalog version). */
async function publishOne(site: Site, name: string): Promise<string> {
  const result = await site.publish.publish({
    source: Readable.from([Buffer.from(`bench payload ${name}\n`)]),
    fileName: 'tool.bin',
    manifest: {
      title: `Bench Tool ${name} 1.0`,
      product: `Bench Tool ${name}`,
      classification: 'Updates',
      version: '1.0',
      handler: { type: 'commandLine', program: 'tool.bin' },
    },
    actor: 'bench',
  });
  return result.updateId;
}

function deployIn(site: Site, updateId: string): Promise<unknown> {
  return site.deployments.approve({ updateId, group: 'All Computers', action: 'install' }, 'bench');
}

/** Deploys the update from another process (the server must see it through the database). */
async function deploy(home: string, env: NodeJS.ProcessEnv, updateId: string): Promise<void> {
  const site = await openSite({ home, env, logLevel: 'silent' });
  try {
    await site.deployments.approve(
      { updateId, group: 'All Computers', action: 'install' },
      'bench',
    );
  } finally {
    await site.close();
  }
}

async function writeScripts(
  dir: string,
  clientsFile: string,
): Promise<{ sync304: string; sync200: string; register: string }> {
  const sync = syncLua(clientsFile);
  const register = registerLua('reg');
  const files = {
    sync304: path.join(dir, 'sync.lua'),
    sync200: path.join(dir, 'sync.lua'),
    register: path.join(dir, 'register.lua'),
  };
  await writeFile(files.sync304, sync);
  await writeFile(files.register, register);
  return files;
}

/** A scenario's figures with the server's CPU time (user + system) spent during it, in ms. */
async function measured(
  pid: number | undefined,
  scenario: () => Promise<WrkFigures>,
): Promise<{ f: WrkFigures; cpuMs: number }> {
  const before = await cpuMs(pid);
  const f = await scenario();
  return { f, cpuMs: (await cpuMs(pid)) - before };
}

/**
 * The database statements of single requests, counted in this process (knex 'query' events)
 * behind the real server: for COUNTED clients, the sync with the anchor of the file (one
 * deployment behind: a 200), then the sync with the anchor it returned (304), then COUNTED
 * registrations. Sequential, with the change poll slowed so that only the requests' own
 * statements fall inside each count; the batched last_contact write is counted on its own.
 */
async function countQueries(
  home: string,
  env: NodeJS.ProcessEnv,
  clientsFile: string,
): Promise<{
  newDeployment: string;
  nothingNew: string;
  registration: string;
  contactFlush: number;
}> {
  const site = await openSite({ home, env, logLevel: 'silent' });
  site.config.server.changePollMs = 60_000;
  const running = await startServer(site, { host: '127.0.0.1', port: 0 });
  await warmed(running.url, CLIENTS); // the warm's reads are not the requests'
  let n = 0;
  site.db.on('query', () => {
    n += 1;
  });
  const counted = async (
    request: () => Promise<Response>,
    status: number,
  ): Promise<[number, Response]> => {
    const before = n;
    const res = await request();
    if (res.status !== status)
      throw new Error(`bench: expected ${status}, got ${res.status}: ${await res.text()}`);
    return [n - before, res];
  };
  try {
    const lines = (await readFile(clientsFile, 'utf8')).split('\n').slice(-COUNTED - 1, -1);
    const b: number[] = [];
    const a: number[] = [];
    const r: number[] = [];
    for (const line of lines) {
      const [secret, anchor, hardware] = line.split(' ');
      const headers = {
        authorization: `Bearer ${secret ?? ''}`,
        'upcat-hardware-id': hardware ?? '',
      };
      const [nb, res] = await counted(
        () => fetch(`${running.url}/v1/sync?anchor=${anchor ?? ''}`, { headers }),
        200,
      );
      b.push(nb);
      const next = ((await res.json()) as { anchor: string }).anchor;
      const [na, again] = await counted(
        () => fetch(`${running.url}/v1/sync?anchor=${next}`, { headers }),
        304,
      );
      await again.arrayBuffer();
      a.push(na);
    }
    for (let i = 0; i < COUNTED; i++) {
      const body = JSON.stringify({
        hardwareId: `count-${i}-${Date.now()}`,
        name: `count-${i}`,
        os: 'linux',
        architecture: 'x64',
        clientVersion: '1.0.0',
      });
      const [nr, res] = await counted(
        () =>
          fetch(`${running.url}/v1/clients`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body,
          }),
        201,
      );
      await res.arrayBuffer();
      r.push(nr);
    }
    const beforeFlush = n;
    await site.contacts.flush();
    const median = (xs: number[]): number =>
      [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)] ?? NaN;
    return {
      newDeployment: `${median(b)} (first: ${b[0] ?? 'n/a'})`,
      nothingNew: String(median(a)),
      registration: String(median(r)),
      contactFlush: n - beforeFlush,
    };
  } finally {
    await running.close();
    await site.close();
  }
}

function round3(n: number): number {
  return Math.round(n * 1000) / 1000;
}

function wrk(script: string, url: string, seconds: number): Promise<WrkFigures> {
  return runWrk(script, url, seconds, { threads: THREADS, connections: CONNECTIONS });
}

const only = onlyStatus;

/** Waits (bounded, 5 minutes) until the server's fast path holds `clients` clients. */
export async function warmed(url: string, clients: number, workers = 1): Promise<void> {
  const deadline = Date.now() + 300_000;
  // Each worker process warms its own memory: `workers` answers in a row, one from each.
  let inRow = 0;
  while (Date.now() < deadline) {
    const held =
      (await scrape(url, workers > 1)).get('upcat_sync_cache_clients')?.samples[0]?.value ?? 0;
    inRow = held >= clients ? inRow + 1 : 0;
    if (inRow >= workers) return;
    if (inRow === 0) await new Promise((r) => setTimeout(r, 1000));
  }
  throw new Error(`bench: the sync fast path did not load ${clients} clients within 5 minutes`);
}

/** Other work shares this machine: wait for a quiet moment (bounded), return the load then. */
async function quietMachine(): Promise<number> {
  const deadline = Date.now() + LOAD_WAIT_MS;
  while ((loadavg()[0] ?? 0) >= LOAD_CEILING && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 5000));
  }
  return loadavg()[0] ?? 0;
}

function exited(child: ChildProcess): Promise<void> {
  return child.exitCode !== null
    ? Promise.resolve()
    : new Promise((resolve) => child.once('exit', () => resolve()));
}

function round2(n: number): number {
  return Math.round(n * 100) / 100;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  console.log(JSON.stringify(await run(), null, 2));
}

/** A /proc/<pid>/status memory figure of the server, in MB (undefined off Linux). */
async function memoryOf(
  pid: number | undefined,
  field: 'VmRSS' | 'VmHWM',
): Promise<number | undefined> {
  if (pid === undefined) return undefined;
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const kb = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1];
    return kb === undefined ? undefined : Math.round(Number(kb) / 1024);
  } catch {
    return undefined;
  }
}
