/**
 * Issue 4 and issue 11 item 4 benchmark. Part 1 (issue 11): a 2,000-package vendor catalog
 * against a real site: the dry run (every step, rolled back; target under 2 s) and a
 * metadata-only import (target 200 packages/s or more), with `xmllint --stream` reading the
 * same catalog in the same run as the reference. Part 2 (issue 4): import (map only) a vendor
 * catalog of about 2,000 packages, generated from
 * the shapes of the real SDP fixtures: most packages like the Dell MSI package (small), one in
 * twenty like the Dell driver package (180 KB, 615 WmiQuery rules), as vendor catalogs mix them.
 * The catalog is written to a file and streamed, as `upcat import-catalog` reads it; parsing,
 * mapping and checking every manifest is timed. The heap is sampled at every read: the import
 * must not hold the catalog (target: a peak under 150 MB whatever the catalog's size).
 * Run: node --import tsx bench/import-catalog.ts
 */
import { execFile } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { initSite, openSite } from '../src/app.js';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { importCatalogFile, importCatalogFrom } from '../src/publish/sdp/index.js';
import { writeCatalog } from './fixtures-gen.js';
import type { BenchResult } from './types.js';
import { workDir } from './util.js';

const PACKAGES = 2_000;
const PEAK_HEAP_TARGET_MB = 150;
/** Reads this small make the heap samples fine-grained (the CLI reads 1 MiB at a time). */
const READ_BYTES = 64 * 1024;

const DRY_RUN_TARGET_MS = 2_000;
const IMPORT_TARGET_PER_S = 200;

export async function run(): Promise<BenchResult> {
  const dir = await workDir('import-catalog');
  const file = path.join(dir, `catalog-${PACKAGES}.xml`);
  const bytes = await writeCatalog(file, PACKAGES, 20);
  const site = await siteFigures(dir, file);

  // A full collection first, so that the baseline is what is live, not earlier garbage.
  collectGarbage();
  const baseline = process.memoryUsage().heapUsed;
  let peak = baseline;
  async function* sampled(): AsyncGenerator<string> {
    for await (const chunk of createReadStream(file, {
      encoding: 'utf8',
      highWaterMark: READ_BYTES,
    })) {
      peak = Math.max(peak, process.memoryUsage().heapUsed);
      yield chunk as string;
    }
  }
  const start = process.hrtime.bigint();
  const result = await importCatalogFrom(sampled, { dryRun: true });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  peak = Math.max(peak, process.memoryUsage().heapUsed);
  collectGarbage();
  const retained = process.memoryUsage().heapUsed - baseline;

  const referenceMs = await jsonParseMs(file);
  const peakMb = Math.round(peak / 1e6);
  const met =
    peakMb < PEAK_HEAP_TARGET_MB &&
    site.dryRunMs < DRY_RUN_TARGET_MS &&
    site.perSecond >= IMPORT_TARGET_PER_S;
  return {
    name: 'import-catalog',
    figures: {
      'site dry run ms (2,000 packages, every step rolled back)': Math.round(site.dryRunMs),
      'site dry run CPU ms (this process, all threads)': Math.round(site.dryRunCpuMs),
      'site metadata-only import ms': Math.round(site.importMs),
      'site metadata-only import CPU ms': Math.round(site.importCpuMs),
      'site metadata-only packages/s': Math.round(site.perSecond),
      'site packages stored (awaiting content)': site.stored,
      'xmllint --stream ms (reference)': Math.round(site.xmllintMs),
      'dry run / xmllint': Math.round((site.dryRunMs / site.xmllintMs) * 10) / 10,
      'import / xmllint': Math.round((site.importMs / site.xmllintMs) * 10) / 10,
      'map-only ms / JSON.parse of the same size':
        Math.round((ms / Math.max(referenceMs, 0.001)) * 10) / 10,
      packages: result.summary.packages,
      mapped: result.summary.mapped,
      invalid: result.summary.invalid,
      'catalog MB': Math.round(bytes / 1e5) / 10,
      'total ms': Math.round(ms),
      'ms per package': Math.round((ms / PACKAGES) * 100) / 100,
      'heap MB before': Math.round(baseline / 1e6),
      'peak heap MB (sampled per 64 KB read)': peakMb,
      'MB retained by the report (after a full GC)': Math.round(retained / 1e5) / 10,
    },
    reference: 'xmllint --stream reading the same catalog (ratio: site dry run / xmllint)',
    ratio: Math.round((site.dryRunMs / site.xmllintMs) * 10) / 10,
    target: `dry run under ${DRY_RUN_TARGET_MS} ms, metadata-only import >= ${IMPORT_TARGET_PER_S} packages/s, map-only peak heap under ${PEAK_HEAP_TARGET_MB} MB`,
    met,
  };
}

/** Dry run and metadata-only import of the catalog into a fresh site, and xmllint --stream. */
async function siteFigures(
  dir: string,
  file: string,
): Promise<{
  dryRunMs: number;
  dryRunCpuMs: number;
  importMs: number;
  importCpuMs: number;
  perSecond: number;
  stored: number;
  xmllintMs: number;
}> {
  const home = path.join(dir, `site-${Date.now()}`);
  await mkdir(home, { recursive: true });
  await initSite({ home, env: { UPCAT_HOME: home } });
  const site = await openSite({ home, env: { UPCAT_HOME: home }, logLevel: 'silent' });
  try {
    const options = {
      metadataOnly: true,
      site: { ...site, limits: site.config.limits },
      actor: 'bench',
    };
    // CPU time too: on a shared machine wall time says more about the neighbours than the import.
    let cpu = process.cpuUsage();
    let start = process.hrtime.bigint();
    await importCatalogFile(file, { ...options, dryRun: true });
    const dryRunMs = Number(process.hrtime.bigint() - start) / 1e6;
    const dryRunCpuMs = cpuMs(process.cpuUsage(cpu));
    cpu = process.cpuUsage();
    start = process.hrtime.bigint();
    const result = await importCatalogFile(file, { ...options, dryRun: false });
    const importMs = Number(process.hrtime.bigint() - start) / 1e6;
    const importCpuMs = cpuMs(process.cpuUsage(cpu));
    start = process.hrtime.bigint();
    await promisify(execFile)('xmllint', ['--stream', '--noout', file]);
    const xmllintMs = Number(process.hrtime.bigint() - start) / 1e6;
    return {
      dryRunMs,
      dryRunCpuMs,
      importMs,
      importCpuMs,
      perSecond: (PACKAGES / importMs) * 1000,
      stored: result.summary.awaitingContent,
      xmllintMs,
    };
  } finally {
    await site.close();
  }
}

/** Reference in the same run: JSON.parse of a document of the same size, a floor for any import. */
async function jsonParseMs(file: string): Promise<number> {
  const json = JSON.stringify({ xml: await readFile(file, 'utf8') });
  const start = process.hrtime.bigint();
  JSON.parse(json);
  return Number(process.hrtime.bigint() - start) / 1e6;
}

function cpuMs(usage: NodeJS.CpuUsage): number {
  return (usage.user + usage.system) / 1000;
}

/** V8's `gc`, without --expose-gc on the command line. */
function collectGarbage(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const result = await run();
  console.log(JSON.stringify(result, null, 2));
}
