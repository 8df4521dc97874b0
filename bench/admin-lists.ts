/**
 * Issue 14 benchmark: the admin API's lists at size. A site (embedded SQLite) with 10,000 updates
 * (a generated vendor catalog imported metadata-only) and 100,000 clients (inserted in bulk: 95%
 * approved, 4% pending, 1% blocked), served by `startServer` in this process. Each list is asked
 * sequentially over one keep-alive connection, 200 times, with varying filters and pages:
 *   clients: a page of pending ones, a name search, a deep page (a cursor from 500 rows in);
 *   updates: a title search, a page of live ones, a deep page.
 * Reference in the same run: GET /healthz, the cheapest route of the same server.
 * Target: p99 under 50 ms for the filtered, paged clients list and the updates search. Also
 * measured: the bytes the console's first load transfers (its page, stylesheet and scripts),
 * target under 300 KB compressed.
 * Run: node --import tsx bench/admin-lists.ts   (BENCH_CLIENTS / BENCH_UPDATES scale it down)
 */
import { randomUUID } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import { initSite, openSite, type Site } from '../src/app.js';
import { importCatalogFile } from '../src/publish/sdp/index.js';
import { startServer } from '../src/server/serve.js';
import { writeCatalog } from './fixtures-gen.js';
import type { BenchResult } from './types.js';
import { ROOT, workDir } from './util.js';

const CLIENTS = Number(process.env['BENCH_CLIENTS'] ?? 100_000);
const UPDATES = Number(process.env['BENCH_UPDATES'] ?? 10_000);
const REQUESTS = 200;
const TARGET_P99_MS = 50;
const TARGET_CONSOLE_BYTES = 300 * 1024;

export async function run(): Promise<BenchResult> {
  const dir = await workDir('admin-lists');
  const home = path.join(dir, `site-${Date.now()}`);
  await initSite({ home, env: { UPCAT_HOME: home } });
  const site = await openSite({ home, env: { UPCAT_HOME: home }, logLevel: 'silent' });
  const setupStart = performance.now();
  try {
    const catalog = path.join(dir, `catalog-${UPDATES}.xml`);
    await writeCatalog(catalog, UPDATES, 1_000_000); // the small (MSI) shape only
    const imported = await importCatalogFile(catalog, {
      metadataOnly: true,
      dryRun: false,
      site: { ...site, limits: site.config.limits },
      actor: 'bench',
    });
    await bulkClients(site);
    const setupSeconds = Math.round((performance.now() - setupStart) / 1000);
    const token = (await site.tokens.create({ name: 'bench', scope: 'read' }, 'bench')).token;
    const running = await startServer(site, { host: '127.0.0.1', port: 0 });
    try {
      const get = async (route: string): Promise<{ ms: number; body: unknown }> => {
        const started = performance.now();
        const res = await fetch(`${running.url}${route}`, {
          headers: { authorization: `Bearer ${token}` },
        });
        const body: unknown = await res.json();
        const ms = performance.now() - started;
        if (res.status !== 200)
          throw new Error(`${route}: HTTP ${res.status} ${JSON.stringify(body)}`);
        return { ms, body };
      };
      const deepCursor = async (route: string, key: string, total: number): Promise<string> => {
        const depth = Math.min(500, Math.floor(total / 2));
        const first = (await get(`${route}${route.includes('?') ? '&' : '?'}limit=${depth}`))
          .body as Record<string, unknown>;
        const next = first['next'];
        if (typeof next !== 'string')
          throw new Error(`${route}: no next page after ${depth} ${key}`);
        return next;
      };
      const clientsDeep = await deepCursor('/v1/clients', 'clients', CLIENTS);
      const updatesDeep = await deepCursor('/v1/updates', 'updates', UPDATES);
      const series = async (make: (i: number) => string): Promise<number[]> => {
        for (let i = 0; i < 10; i++) await get(make(i)); // warm
        const times: number[] = [];
        for (let i = 0; i < REQUESTS; i++) times.push((await get(make(i))).ms);
        return times;
      };
      const health = await series(() => '/healthz');
      const clientLists = await series((i) =>
        i % 3 === 0
          ? '/v1/clients?status=pending&limit=50'
          : i % 3 === 1
            ? `/v1/clients?search=pc-${(i * 7919) % CLIENTS}.&limit=50`
            : `/v1/clients?limit=100&cursor=${encodeURIComponent(clientsDeep)}`,
      );
      const updateSearches = await series((i) =>
        i % 3 === 0
          ? `/v1/updates?q=${encodeURIComponent(`Package ${(i * 104729) % UPDATES},`)}&limit=50`
          : i % 3 === 1
            ? '/v1/updates?status=live&limit=100'
            : `/v1/updates?limit=100&cursor=${encodeURIComponent(updatesDeep)}`,
      );
      const consoleBytes = await consoleFirstLoad();
      const p = (xs: number[], q: number): number => {
        const sorted = [...xs].sort((a, b) => a - b);
        return (
          Math.round(
            (sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0) * 10,
          ) / 10
        );
      };
      const clientsP99 = p(clientLists, 0.99);
      const updatesP99 = p(updateSearches, 0.99);
      const healthP99 = p(health, 0.99);
      return {
        name: 'admin-lists',
        figures: {
          clients: CLIENTS,
          updates: imported.summary.mapped,
          'setup seconds': setupSeconds,
          'clients list p50 ms': p(clientLists, 0.5),
          'clients list p99 ms': clientsP99,
          'updates search p50 ms': p(updateSearches, 0.5),
          'updates search p99 ms': updatesP99,
          'GET /healthz p50 ms (reference)': p(health, 0.5),
          'GET /healthz p99 ms (reference)': healthP99,
          'console first load bytes (uncompressed, as served)': consoleBytes.raw,
          'console first load bytes (gzip -9)': consoleBytes.gzip,
        },
        reference:
          'GET /healthz of the same server in the same run (ratio: clients list p99 / healthz p99)',
        ratio: Math.round((clientsP99 / Math.max(healthP99, 0.1)) * 10) / 10,
        target: `clients list and updates search p99 under ${TARGET_P99_MS} ms; console first load under ${TARGET_CONSOLE_BYTES / 1024} KB compressed`,
        met:
          clientsP99 < TARGET_P99_MS &&
          updatesP99 < TARGET_P99_MS &&
          consoleBytes.gzip < TARGET_CONSOLE_BYTES,
      };
    } finally {
      await running.close();
    }
  } finally {
    await site.close();
  }
}

/** 100,000 client records in batches of 500, as registrations and approvals would leave them. */
async function bulkClients(site: Site): Promise<void> {
  const at = new Date().toISOString();
  await site.db.transaction(async (trx) => {
    for (let i = 0; i < CLIENTS; i += 500) {
      const rows = [];
      for (let j = i; j < Math.min(CLIENTS, i + 500); j++) {
        rows.push({
          client_id: randomUUID(),
          hardware_id: `bench-${j}`,
          name: `pc-${j}.bench.test`,
          os: 'linux debian 12',
          architecture: 'x64',
          client_version: '1.0.0',
          secret_hash: null,
          approval: j % 25 === 0 ? 'pending' : 'approved',
          blocked: j % 100 === 1,
          record_state: 'active',
          created_at: new Date(Date.parse(at) - (CLIENTS - j) * 1000).toISOString(),
          last_contact: at,
          trusted: false,
          channel: 'native',
        });
      }
      await trx('clients').insert(rows);
    }
  });
}

/** What a browser fetches on the console's first load: the page, its stylesheet, its modules. */
async function consoleFirstLoad(): Promise<{ raw: number; gzip: number }> {
  const files = [
    path.join(ROOT, 'console', 'static', 'index.html'),
    path.join(ROOT, 'console', 'static', 'console.css'),
  ];
  const js = path.join(ROOT, 'dist', 'console', 'js');
  for (const entry of await readdir(js, { recursive: true })) {
    const file = path.join(js, entry);
    if (file.endsWith('.js') && (await stat(file)).isFile()) files.push(file);
  }
  let raw = 0;
  let gzip = 0;
  for (const file of files) {
    const bytes = await readFile(file);
    raw += bytes.length;
    gzip += gzipSync(bytes, { level: 9 }).length;
  }
  return { raw, gzip };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href)
  console.log(JSON.stringify(await run(), null, 2));
