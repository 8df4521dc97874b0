/**
 * Issue 3 benchmark: publish the 10,001st update into a catalog of 10,000 (in process, through the
 * real PublishService: payload, revision, XML document, CMS signature, TUF bins, snapshot and
 * timestamp), and count the metadata bytes that a tuf-js client already current at 10,000 downloads
 * to see the new update (refresh + getTargetInfo of its document target), counted by the server.
 * Reference, in the same run: the same publish into an empty catalog (a fresh `upcat init` site).
 * Targets: publish under 1 s; metadata under 64 KiB.
 *
 * The catalog of 10,000 is built once and cached under bench/.work/catalog-10k/ (keyed by
 * SITE_FORMAT and the count; BENCH_CATALOG_REBUILD=1 rebuilds; an interrupted build resumes);
 * each run measures on a copy. BENCH_CATALOG_UPDATES scales the catalog down for a trial.
 * Run: node --import tsx bench/catalog-10k.ts
 */
import { cp, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { Updater } from 'tuf-js';
import { initSite, openSite, type Site } from '../src/app.js';
import type { PublishResult } from '../src/publish/publish-service.js';
import { startServer } from '../src/server/serve.js';
import type { BenchResult } from './types.js';
import { median, timed, workDir } from './util.js';

/** Bump when a change in src/ makes a cached site unusable (schema, repository layout). */
const SITE_FORMAT = 'v1';
const UPDATES = Number(process.env['BENCH_CATALOG_UPDATES'] ?? 10_000);
/**
 * Timed publishes on each side: #10,001 onwards into the big catalog, and as many into empty
 * catalogs (a fresh site each), alternately. The machine's noise shows in their spread.
 */
const SAMPLES = Number(process.env['BENCH_RUNS'] ?? 7);
const TARGET_MS = 1000;
const TARGET_BYTES = 64 * 1024;

export async function run(): Promise<BenchResult> {
  const dir = await workDir('catalog-10k');
  const base = await ensureCatalog(dir);
  const scratch = await mkdtemp(path.join(dir, 'run-'));
  try {
    // Warm the JIT and module caches on a throwaway site, so neither contender pays for it.
    await emptySitePublish(base, path.join(scratch, 'warm'), 0);
    const home = path.join(scratch, 'big');
    const copy = await timed('cp', ['-a', '--reflink=auto', base, home]);
    // Samples alternate between the two catalogs, so both see the same load on the machine.
    const big = await measureBig(home, async (i) => {
      const emptyHome = path.join(scratch, `empty-${i}`);
      const ms = await emptySitePublish(base, emptyHome, i + 1);
      await rm(emptyHome, { recursive: true, force: true });
      return ms;
    });

    const empty = median(big.emptyMs);
    const atSize = median(big.publishMs);
    const first = big.publishMs[0] ?? Number.NaN;
    return {
      name: `publish the ${ordinal(UPDATES + 1)} update into a catalog of ${UPDATES} (in process, embedded SQLite)`,
      reference: 'the same publish into an empty catalog (a fresh `upcat init` site each time)',
      figures: {
        [`publish #${UPDATES + 1} ms`]: round1(first),
        [`publish #${UPDATES + 1}..#${UPDATES + SAMPLES} ms (median)`]: round1(atSize),
        'publish into an empty catalog ms (median)': round1(empty),
        [`publish #${UPDATES + 1}.. ms (all)`]: big.publishMs.map(round1).join(' '),
        'publish into an empty catalog ms (all)': big.emptyMs.map(round1).join(' '),
        'client metadata bytes to see the new update (HTTP, with headers)': big.wireBytes,
        'client metadata bytes (bodies only)': big.bodyBytes,
        'client requests': big.requests.join(', '),
        'whole catalog metadata bytes (timestamp, snapshot, targets, all bins)': big.wholeBytes,
        [`build of the ${UPDATES} updates s (cached)`]: await buildSeconds(base),
        'site copy ms': Math.round(copy.ms),
        'startServer ms (includes the TUF catch-up check)': Math.round(big.serveStartMs),
      },
      ratio: Math.round((atSize / empty) * 100) / 100,
      target: 'publish < 1 s, client metadata < 64 KiB',
      met: first < TARGET_MS && atSize < TARGET_MS && big.wireBytes < TARGET_BYTES,
    };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/** Manifest and payload of update number `i` (1-based): one small unique file each. */
function publishInput(
  i: number,
  actor = 'bench',
): Parameters<Site['publish']['publish']>[0] & { manifest: Record<string, unknown> } {
  return {
    source: Readable.from([Buffer.from(`bench payload ${i}\n`)]),
    fileName: 'tool.bin',
    manifest: {
      title: `Bench Tool ${i}`,
      product: `Bench Tool ${i % 50}`,
      classification: 'Updates',
      version: `1.0.${i}`,
      description: `Benchmark update number ${i}.`,
      handler: { type: 'commandLine', program: 'tool.bin', arguments: '/quiet' },
      isInstallable: { Platform: { Name: 'linux' } },
    },
    actor,
  };
}

const siteEnv = (home: string): NodeJS.ProcessEnv => ({ UPCAT_HOME: home });

async function open(home: string): Promise<Site> {
  return openSite({ home, env: siteEnv(home), logLevel: 'silent' });
}

/** The cached site with UPDATES published updates; builds (or resumes building) it if needed. */
async function ensureCatalog(dir: string): Promise<string> {
  const home = path.join(dir, `site-${SITE_FORMAT}-${UPDATES}`);
  const done = path.join(home, '.bench-complete');
  if (process.env['BENCH_CATALOG_REBUILD'] === '1')
    await rm(home, { recursive: true, force: true });
  if (await exists(done)) return home;

  await mkdir(home, { recursive: true });
  await initSite({ home, env: siteEnv(home) });
  const site = await open(home);
  try {
    const [row] = (await site.db('updates').count({ n: '*' })) as Array<{ n: number | string }>;
    const have = Number(row?.n ?? 0);
    if (have > 0) process.stderr.write(`catalog-10k: resuming the build at ${have}\n`);
    const started = process.hrtime.bigint();
    let lastReport = started;
    for (let i = have + 1; i <= UPDATES; i++) {
      await site.publish.publish(publishInput(i));
      const now = process.hrtime.bigint();
      if (i === UPDATES || Number(now - lastReport) / 1e9 >= 10) {
        lastReport = now;
        const secs = Number(now - started) / 1e9;
        const rate = (i - have) / secs;
        process.stderr.write(
          `catalog-10k: built ${i}/${UPDATES} in ${Math.round(secs)} s ` +
            `(${rate.toFixed(1)}/s, about ${Math.round((UPDATES - i) / rate)} s left)\n`,
        );
      }
    }
    const secs = elapsedMs(started) / 1000;
    await writeFile(done, JSON.stringify({ updates: UPDATES, buildSeconds: Math.round(secs) }));
  } finally {
    await site.close();
  }
  return home;
}

/** A fresh site (the base site's keys, so no key generation), `upcat init`, one publish, timed. */
async function emptySitePublish(base: string, home: string, i: number): Promise<number> {
  await mkdir(home, { recursive: true });
  await cp(path.join(base, 'signing'), path.join(home, 'signing'), { recursive: true });
  await initSite({ home, env: siteEnv(home) });
  const site = await open(home);
  try {
    const input = publishInput(UPDATES + 1 + i, 'bench-empty');
    const started = process.hrtime.bigint();
    await site.publish.publish(input);
    return elapsedMs(started);
  } finally {
    await site.close();
  }
}

interface BigFigures {
  /** Publishes #UPDATES+1 onwards, in order. */
  publishMs: number[];
  /** The reference samples, taken alternately with them. */
  emptyMs: number[];
  /** startServer on the catalog: its TUF catch-up reads every target from the database. */
  serveStartMs: number;
  wireBytes: number;
  bodyBytes: number;
  requests: string[];
  wholeBytes: number;
}

/** On a copy of the cached catalog: a current client, the timed publish, the client's catch-up. */
async function measureBig(
  home: string,
  sampleEmpty: (i: number) => Promise<number>,
): Promise<BigFigures> {
  const site = await open(home);
  const serveStarted = process.hrtime.bigint();
  const running = await startServer(site, { host: '127.0.0.1', port: 0 });
  const serveStartMs = elapsedMs(serveStarted);
  try {
    const url = `http://127.0.0.1:${(running.server.address() as AddressInfo).port}`;
    const repoDir = site.signing?.repoDir ?? '';
    const clientDir = path.join(home, 'client');
    await mkdir(path.join(clientDir, 'targets'), { recursive: true });
    await cp(path.join(repoDir, '1.root.json'), path.join(clientDir, 'root.json'));

    // The client becomes current at UPDATES, having looked up the last update published.
    const last = (await site
      .db('revisions')
      .orderBy('catalog_version', 'desc')
      .first('update_id')) as { update_id: string } | undefined;
    const first = updater(clientDir, url);
    await first.refresh();
    if ((await first.getTargetInfo(`updates/${last?.update_id ?? ''}.xml`)) === undefined)
      throw new Error('the current client does not see the last update of the catalog');

    const emptyMs: number[] = [];
    const publishMs: number[] = [];
    let client: Awaited<ReturnType<typeof catchUp>> | undefined;
    for (let i = 0; i < SAMPLES; i++) {
      emptyMs.push(await sampleEmpty(i));
      const started = process.hrtime.bigint();
      const published = await site.publish.publish(publishInput(UPDATES + 1 + i));
      publishMs.push(elapsedMs(started));
      if (!published.created) throw new Error('a timed publish was an idempotent repeat');
      // The client current at UPDATES catches up with the first of them only.
      client ??= await catchUp(running.server, repoDir, clientDir, url, published);
    }
    return {
      publishMs,
      emptyMs,
      serveStartMs,
      ...(client as Awaited<ReturnType<typeof catchUp>>),
      wholeBytes: await wholeCatalogBytes(repoDir),
    };
  } finally {
    await running.close();
    await site.close();
  }
}

/** A client current before `published` refreshes and looks it up; the server counts the bytes. */
async function catchUp(
  server: Server,
  repoDir: string,
  clientDir: string,
  url: string,
  published: PublishResult,
): Promise<{ wireBytes: number; bodyBytes: number; requests: string[] }> {
  const counter = countTufResponses(server, repoDir);
  const second = updater(clientDir, url);
  await second.refresh();
  const info = await second.getTargetInfo(`updates/${published.updateId}.xml`);
  await counter.stop();
  if (info?.custom['updateId'] !== published.updateId)
    throw new Error('the client does not see the new update after its refresh');
  return { wireBytes: counter.wireBytes, bodyBytes: counter.bodyBytes, requests: counter.requests };
}

function updater(dir: string, url: string): Updater {
  return new Updater({
    metadataDir: dir,
    metadataBaseUrl: `${url}/tuf`,
    targetDir: path.join(dir, 'targets'),
    targetBaseUrl: `${url}/tuf/targets`,
    config: { fetchRetry: 0, fetchTimeout: 10_000 },
  });
}

/**
 * Counts, on the server, the responses to /tuf/ metadata requests (targets excluded): bytes on
 * the wire (status line, headers and body, from the socket's counter) and body bytes (the size of
 * the metadata file answered with 200).
 */
function countTufResponses(
  server: Server,
  repoDir: string,
): { wireBytes: number; bodyBytes: number; requests: string[]; stop(): Promise<void> } {
  const pending: Array<Promise<void>> = [];
  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const url = req.url ?? '';
    if (!url.startsWith('/tuf/') || url.startsWith('/tuf/targets/')) return;
    const before = req.socket.bytesWritten;
    res.once('finish', () => {
      out.wireBytes += req.socket.bytesWritten - before;
      const name = path.basename(url);
      out.requests.push(`${name} ${res.statusCode}`);
      if (res.statusCode !== 200) return;
      pending.push(
        stat(path.join(repoDir, name)).then((s) => {
          out.bodyBytes += s.size;
        }),
      );
    });
  };
  const out = {
    wireBytes: 0,
    bodyBytes: 0,
    requests: [] as string[],
    stop: async (): Promise<void> => {
      server.off('request', onRequest);
      await Promise.all(pending);
    },
  };
  server.prependListener('request', onRequest);
  return out;
}

/**
 * What a client starting from nothing would download to know every target: timestamp, the
 * current snapshot, and every role it lists (targets.json and all bins), by the lengths it lists.
 */
async function wholeCatalogBytes(repoDir: string): Promise<number> {
  const timestamp = await readFile(path.join(repoDir, 'timestamp.json'));
  const ts = JSON.parse(timestamp.toString()) as {
    signed: { meta: Record<string, { version: number }> };
  };
  const snapshotVersion = ts.signed.meta['snapshot.json']?.version;
  const snapshot = await readFile(path.join(repoDir, `${snapshotVersion}.snapshot.json`));
  const snap = JSON.parse(snapshot.toString()) as {
    signed: { meta: Record<string, { length?: number }> };
  };
  let total = timestamp.length + snapshot.length;
  for (const meta of Object.values(snap.signed.meta)) total += meta.length ?? 0;
  return total;
}

async function buildSeconds(home: string): Promise<number | string> {
  const text = await readFile(path.join(home, '.bench-complete'), 'utf8');
  return (JSON.parse(text) as { buildSeconds?: number }).buildSeconds ?? 'unknown';
}

async function exists(file: string): Promise<boolean> {
  return (await stat(file).catch(() => undefined)) !== undefined;
}

function elapsedMs(started: bigint): number {
  return Number(process.hrtime.bigint() - started) / 1e6;
}

const round1 = (ms: number): number => Math.round(ms * 10) / 10;

function ordinal(n: number): string {
  return `${n.toLocaleString('en-US')}${n % 10 === 1 && n % 100 !== 11 ? 'st' : 'th'}`;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  console.log(JSON.stringify(await run(), null, 2));
}
