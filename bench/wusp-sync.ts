/**
 * Issue 12 benchmark: the MS-WUSP server with 100,000 registered Windows computers and a catalog
 * of 1,000 updates deployed to All Computers.
 * (a) SyncUpdates that finds nothing new: every computer sends its whole cache (the categories as
 *     installed non-leaf, the 1,000 updates as other cached IDs), as a WUA does on each scan;
 *     rate and p99 under load from a second process (wrk with a Lua script rotating through every
 *     computer's cookie). Target: >= 2,000/s at p99 < 50 ms. Reference in the same run: wrk on
 *     GET /healthz, the floor of the HTTP stack (ratio = SyncUpdates rate / healthz rate).
 * (b) One computer's first full sync of the catalog: the SyncUpdates loop from an empty cache
 *     until nothing is new (categories, products, then the updates in pages), each round trip
 *     timed from this process on loopback; their sum bounds the server time. Target < 200 ms.
 * (c) GetExtendedUpdateInfo for 50 revisions (Extended + LocalizedProperties, file locations).
 *
 * Setup (not measured): `upcat init`, the updates published through the real PublishService
 * (Windows rules, a small command-line payload each), the computers inserted in bulk through knex
 * (a client record and a wusp_computers row each, approved), each with a cookie sealed with the
 * site's key as GetCookie would issue it. The first SyncUpdates builds the catalog model (and
 * wraps and signs each payload's CAB) once; that warm-up is reported separately.
 * Run: node --import tsx bench/wusp-sync.ts (BENCH_COMPUTERS=2000 BENCH_UPDATES=100 for a trial;
 * BENCH_CPU_PROF=<dir> to profile the server)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { loadavg } from 'node:os';
import { existsSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { initSite, openSite, type Site } from '../src/app.js';
import { currentCatalogVersion } from '../src/storage/catalog-repo.js';
import { loadAnchorKey } from '../src/sync/site-keys.js';
import { CookieSealer } from '../src/windows/wusp/cookies.js';
import { loadServerState } from '../src/windows/wusp/config.js';
import { DEFAULT_SETTINGS } from '../src/windows/wusp/index.js';
import { parseXml, type XmlElement } from '../src/rules/safe-xml.js';
import { COUNTING_LUA, ensureWrk, onlyStatus, runWrk, type WrkFigures } from './wrk.js';
import type { BenchResult } from './types.js';
import { cpuMs } from './sim.js';
import { ROOT, freePort, median, waitForHttp, workDir } from './util.js';

const COMPUTERS = Number(process.env['BENCH_COMPUTERS'] ?? 100_000);
const UPDATES = Number(process.env['BENCH_UPDATES'] ?? 1_000);
const SECONDS = Number(process.env['BENCH_WRK_SECONDS'] ?? 12);
const CONNECTIONS = 32;
/** BENCH_CPU_PROF=<dir>: the server runs under `node --cpu-prof` (bench/cpu-profile-top.ts reads it). */
const PROFILE_DIR = process.env['BENCH_CPU_PROF'];
const TARGET_RPS = 2000;
const TARGET_P99_MS = 50;
const TARGET_FULL_SYNC_MS = 200;
const CWS = 'http://www.microsoft.com/SoftwareDistribution/Server/ClientWebService';
const ENVELOPE_OPEN =
  '<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:soapenc="http://schemas.xmlsoap.org/soap/encoding/"><soap:Body>';
const ENVELOPE_CLOSE = '</soap:Body></soap:Envelope>';

export async function run(): Promise<BenchResult> {
  ensureWrk();
  const dir = await workDir('wusp-sync');
  const home = path.join(dir, 'site');
  const env = { UPCAT_HOME: home, PATH: process.env['PATH'] ?? '' };
  const cookiesFile = path.join(dir, 'cookies.txt');
  const setupStart = Date.now();
  let probe: { cookie: string };
  // BENCH_REUSE=1: measure again on the site and cookies of the last run (setup takes minutes).
  if (process.env['BENCH_REUSE'] === '1' && existsSync(path.join(dir, 'setup-done'))) {
    probe = { cookie: (await readFile(cookiesFile, 'utf8')).split('\n')[0] ?? '' };
  } else {
    await rm(home, { recursive: true, force: true });
    await rm(path.join(dir, 'setup-done'), { force: true });
    await initSite({ home, env });
    const site = await openSite({ home, env, logLevel: 'silent' });
    try {
      site.config.site.approval = 'auto-all';
      await publishCatalog(site);
      const key = await loadAnchorKey(site.config.dirs.signing);
      probe = await bulkComputers(site, new CookieSealer(key), cookiesFile);
    } finally {
      await site.close();
    }
    await writeFile(path.join(dir, 'setup-done'), `${COMPUTERS} ${UPDATES}\n`);
  }
  const setupSeconds = Math.round((Date.now() - setupStart) / 1000);

  const port = await freePort();
  const server = spawn(
    process.execPath,
    [
      ...(PROFILE_DIR === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', PROFILE_DIR]),
      '--import',
      'tsx',
      path.join(ROOT, 'src', 'cli', 'run.ts'),
      'serve',
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
    ],
    { env: { ...env, UPCAT_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'ignore', 'inherit'], cwd: ROOT },
  );
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitForHttp(`${url}/healthz`, 60_000);
    // The first sync builds the catalog model and the signed CABs: timed, then out of the way.
    const warmStart = Date.now();
    const first = await fullSync(url, probe.cookie);
    const warmMs = Date.now() - warmStart;
    const full = await fullSync(url, probe.cookie);
    const cachedIds = full.cache;
    const lua = await writeScript(dir, cookiesFile, full.installedNonLeaf, full.other);
    const load = loadavg()[0] ?? 0;
    await wrk(lua, url, 3); // warm-up: JIT, page cache, policy cache
    const cpu0 = await cpuMs(server.pid);
    const none = await wrk(lua, url, SECONDS);
    const cpu1 = await cpuMs(server.pid);
    const health = await wrk(await writeHealthScript(dir), url, Math.min(SECONDS, 6));
    const cpu2 = await cpuMs(server.pid);
    const perRequest = (ms: number, n: number) => (n === 0 ? 'n/a' : Math.round((ms / n) * 1000));
    const extended = await extendedInfo(url, probe.cookie, [...cachedIds].slice(-50));
    const fullRuns: number[] = [];
    for (let i = 0; i < 5; i++) fullRuns.push((await fullSync(url, probe.cookie)).totalMs);
    const fullMs = median(fullRuns);
    const met =
      none.rps >= TARGET_RPS &&
      none.p99Ms < TARGET_P99_MS &&
      only(none, '200') &&
      fullMs < TARGET_FULL_SYNC_MS;
    return {
      name: `MS-WUSP SyncUpdates with ${COMPUTERS.toLocaleString('en')} registered computers and ${UPDATES.toLocaleString('en')} updates (upcat serve, embedded SQLite)`,
      figures: {
        'setup seconds (publish, insert, seal)': setupSeconds,
        'first request after start (model build + CAB wrap/sign) ms': warmMs,
        'revisions in a full sync (updates + categories)': first.cache.size,
        'load average (1 min) at start': Math.round(load * 100) / 100,
        'wrk threads x connections': `1 x ${CONNECTIONS}`,
        '(a) nothing new: SyncUpdates/s': Math.round(none.rps),
        '(a) p50 ms': none.p50Ms,
        '(a) p99 ms': none.p99Ms,
        '(a) statuses': JSON.stringify(none.statuses),
        '(a) request body bytes': full.requestBytes,
        '(a) server CPU per request µs': perRequest(cpu1 - cpu0, none.requests),
        'reference: GET /healthz/s': Math.round(health.rps),
        'reference: server CPU per request µs': perRequest(cpu2 - cpu1, health.requests),
        '(b) first full sync, sum of round trips ms (median of 5)': fullMs,
        '(b) round trips': full.rounds,
        '(c) GetExtendedUpdateInfo, 50 revisions, median ms': extended.medianMs,
        '(c) p99 ms': extended.p99Ms,
        '(c) answer bytes': extended.bytes,
      },
      reference: 'wrk on GET /healthz against the same server',
      ratio: Math.round((none.rps / health.rps) * 1000) / 1000,
      target: `(a) >= ${TARGET_RPS}/s at p99 < ${TARGET_P99_MS} ms; (b) < ${TARGET_FULL_SYNC_MS} ms`,
      met,
    };
  } finally {
    server.kill('SIGTERM');
    await exited(server);
  }
}

/** The catalog: UPDATES Windows updates, deployed to All Computers (setup). */
async function publishCatalog(site: Site): Promise<void> {
  for (let i = 0; i < UPDATES; i++) {
    const result = await site.publish.publish({
      source: Readable.from([Buffer.from(`MZ bench payload ${i}\n`)]),
      fileName: 'setup.exe',
      manifest: {
        title: `Bench Tool ${i} 1.${i}`,
        product: `Bench Product ${i % 20}`,
        classification: 'Updates',
        version: `1.${i}`,
        handler: { type: 'commandLine', program: 'setup.exe', arguments: '/quiet' },
        isInstalled: {
          RegKeyExists: { Key: 'HKEY_LOCAL_MACHINE', Subkey: `SOFTWARE\\Bench\\${i}` },
        },
        isInstallable: { WindowsVersion: { Comparison: 'GreaterThanOrEqualTo', MajorVersion: 10 } },
      },
      actor: 'bench',
    });
    await site.deployments.approve(
      { updateId: result.updateId, group: 'All Computers', action: 'install' },
      'bench',
    );
  }
}

/**
 * The computers (setup): a client record and a wusp_computers row each, and a cookie each,
 * sealed as GetCookie issues it, written one per line for wrk.
 */
async function bulkComputers(
  site: Site,
  sealer: CookieSealer,
  file: string,
): Promise<{ susClientId: string; cookie: string }> {
  const server = await loadServerState(site.db, DEFAULT_SETTINGS);
  const version = await currentCatalogVersion(site.db);
  const at = new Date().toISOString();
  const lines: string[] = [];
  await site.db.transaction(async (trx) => {
    for (let i = 0; i < COMPUTERS; i += 400) {
      const clients = [];
      const computers = [];
      for (let j = i; j < Math.min(COMPUTERS, i + 400); j++) {
        const clientId = randomUUID();
        const susClientId = randomUUID();
        clients.push({
          client_id: clientId,
          hardware_id: `wusp-bench-${j}`,
          name: `pc-${j}.bench.test`,
          os: 'Windows 10.0.19045',
          architecture: 'x64',
          client_version: '10.0.19041.3996',
          secret_hash: null,
          approval: 'approved',
          blocked: false,
          record_state: 'active',
          created_at: at,
          last_contact: at,
          trusted: false,
          channel: 'wusp',
        });
        computers.push({
          sus_client_id: susClientId,
          client_id: clientId,
          secret_sealed: '-',
          dns_name: `pc-${j}.bench.test`,
          os_version: '10.0.19045.0.0',
          registered_at: at,
          updated_at: at,
        });
        const cookie = sealer.sealCookie({
          serverId: server.serverId,
          susClientId,
          expiresAt: Date.now() + DEFAULT_SETTINGS.cookieLifetimeMs,
          lastChange: server.config.lastChange,
          protocol: { major: 1, minor: 8 },
          anchor: { catalogVersion: version, policyEpoch: 0 },
          targetGroup: '',
        });
        lines.push(cookie.toString('base64'));
      }
      await trx('clients').insert(clients);
      await trx('wusp_computers').insert(computers);
    }
  });
  await writeFile(file, `${lines.join('\n')}\n`);
  const row = (await site.db('wusp_computers').orderBy('registered_at').first('sus_client_id')) as {
    sus_client_id: string;
  };
  return { susClientId: row.sus_client_id, cookie: lines[0] ?? '' };
}

function syncBody(cookie: string, nonLeaf: readonly number[], other: readonly number[]): string {
  const ints = (name: string, ids: readonly number[]) =>
    ids.length === 0
      ? `<${name} xsi:nil="1" />`
      : `<${name}>${ids.map((i) => `<int>${i}</int>`).join('')}</${name}>`;
  return (
    `${ENVELOPE_OPEN}<SyncUpdates xmlns="${CWS}"><cookie><Expiration>2030-01-01T00:00:00Z</Expiration><EncryptedData>${cookie}</EncryptedData></cookie>` +
    `<parameters><ExpressQuery>false</ExpressQuery>${ints('InstalledNonLeafUpdateIDs', nonLeaf)}${ints('OtherCachedUpdateIDs', other)}<SystemSpec xsi:nil="1" /><CachedDriverIDs xsi:nil="1" /><SkipSoftwareSync>false</SkipSoftwareSync></parameters></SyncUpdates>${ENVELOPE_CLOSE}`
  );
}

async function post(
  url: string,
  op: string,
  body: string,
): Promise<{ root: XmlElement; ms: number; bytes: number }> {
  const start = performance.now();
  const res = await fetch(`${url}/ClientWebService/client.asmx`, {
    method: 'POST',
    headers: { 'Content-Type': 'text/xml; charset=utf-8', SOAPAction: `"${CWS}/${op}"` },
    body,
  });
  const text = await res.text();
  const ms = performance.now() - start;
  if (res.status !== 200) throw new Error(`${op}: HTTP ${res.status} ${text.slice(0, 300)}`);
  return {
    root: parseXml(text, { maxBytes: 64 * 1024 * 1024, maxElements: 2_000_000 }),
    ms,
    bytes: Buffer.byteLength(text),
  };
}

const find = (e: XmlElement | undefined, name: string): XmlElement[] => {
  const out: XmlElement[] = [];
  const walk = (x: XmlElement) => {
    if (x.local === name) out.push(x);
    x.children.forEach(walk);
  };
  if (e !== undefined) walk(e);
  return out;
};

/** The SyncUpdates loop from an empty cache; categories go to InstalledNonLeaf, updates to OtherCached. */
async function fullSync(url: string, cookie: string) {
  const nonLeaf: number[] = [];
  const other: number[] = [];
  let totalMs = 0;
  let rounds = 0;
  let requestBytes: number | undefined;
  for (;;) {
    const body = syncBody(cookie, nonLeaf, other);
    requestBytes = Buffer.byteLength(body);
    const answer = await post(url, 'SyncUpdates', body);
    totalMs += answer.ms;
    rounds += 1;
    const infos = find(find(answer.root, 'NewUpdates')[0], 'UpdateInfo');
    if (infos.length === 0) break;
    for (const u of infos) {
      const id = Number(u.children.find((c) => c.local === 'ID')?.text);
      const leaf = u.children.find((c) => c.local === 'IsLeaf')?.text === 'true';
      (leaf ? other : nonLeaf).push(id);
    }
    if (rounds > 50) throw new Error('the sync does not converge');
  }
  return {
    totalMs: Math.round(totalMs),
    rounds,
    installedNonLeaf: nonLeaf,
    other,
    cache: new Set([...nonLeaf, ...other]),
    requestBytes: requestBytes ?? 0,
  };
}

async function extendedInfo(url: string, cookie: string, ids: number[]) {
  const body =
    `${ENVELOPE_OPEN}<GetExtendedUpdateInfo xmlns="${CWS}"><cookie><Expiration>2030-01-01T00:00:00Z</Expiration><EncryptedData>${cookie}</EncryptedData></cookie>` +
    `<revisionIDs>${ids.map((i) => `<int>${i}</int>`).join('')}</revisionIDs><infoTypes><XmlUpdateFragmentType>Extended</XmlUpdateFragmentType><XmlUpdateFragmentType>LocalizedProperties</XmlUpdateFragmentType></infoTypes><locales><string>en-US</string><string>en</string></locales></GetExtendedUpdateInfo>${ENVELOPE_CLOSE}`;
  const times: number[] = [];
  let bytes = 0;
  for (let i = 0; i < 200; i++) {
    const answer = await post(url, 'GetExtendedUpdateInfo', body);
    times.push(answer.ms);
    bytes = answer.bytes;
    if (find(answer.root, 'FileLocation').length !== ids.length)
      throw new Error('GetExtendedUpdateInfo: missing file locations');
  }
  times.sort((a, b) => a - b);
  return {
    medianMs: round1(median(times)),
    p99Ms: round1(times[Math.floor(times.length * 0.99)] ?? 0),
    bytes,
  };
}

const round1 = (n: number): number => Math.round(n * 10) / 10;

const COMMON = COUNTING_LUA;

/** wrk script: every computer's nothing-new SyncUpdates, its own cookie, the whole cache. */
async function writeScript(
  dir: string,
  cookiesFile: string,
  nonLeaf: number[],
  other: number[],
): Promise<string> {
  const [head, tail] = syncBody('@COOKIE@', nonLeaf, other).split('@COOKIE@');
  const script = `${COMMON}
local cookies = {}
local i = 0
local head = [==[${head ?? ''}]==]
local tail = [==[${tail ?? ''}]==]
function init(args)
  for line in io.lines("${cookiesFile}") do table.insert(cookies, line) end
  i = (tid or 0) * 7919
end
function request()
  i = i % #cookies + 1
  return wrk.format("POST", "/ClientWebService/client.asmx", { ["Content-Type"] = "text/xml; charset=utf-8", ["SOAPAction"] = '"${CWS}/SyncUpdates"' }, head .. cookies[i] .. tail)
end
`;
  const file = path.join(dir, 'sync.lua');
  await writeFile(file, script);
  return file;
}

async function writeHealthScript(dir: string): Promise<string> {
  const file = path.join(dir, 'health.lua');
  await writeFile(file, `${COMMON}\nfunction request() return wrk.format("GET", "/healthz") end\n`);
  return file;
}

function wrk(script: string, url: string, seconds: number): Promise<WrkFigures> {
  return runWrk(script, url, seconds, { threads: 1, connections: CONNECTIONS });
}

const only = onlyStatus;

function exited(child: ChildProcess): Promise<void> {
  return child.exitCode !== null
    ? Promise.resolve()
    : new Promise((resolve) => child.once('exit', () => resolve()));
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  console.log(JSON.stringify(await run(), null, 2));
}
