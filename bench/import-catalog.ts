/**
 * Issue 4 benchmark: import (dry run) a vendor catalog of about 2,000 packages, generated from
 * the shapes of the real SDP fixtures: most packages like the Dell MSI package (small), one in
 * twenty like the Dell driver package (180 KB, 615 WmiQuery rules), as vendor catalogs mix them.
 * The catalog is written to a file and streamed, as `upcat import-catalog` reads it; parsing,
 * mapping and checking every manifest is timed. The heap is sampled at every read: the import
 * must not hold the catalog (target: a peak under 150 MB whatever the catalog's size).
 * Run: node --import tsx bench/import-catalog.ts
 */
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { importCatalogFrom } from '../src/publish/sdp/index.js';
import { writeCatalog } from './fixtures-gen.js';
import type { BenchResult } from './types.js';
import { workDir } from './util.js';

const PACKAGES = 2_000;
const PEAK_HEAP_TARGET_MB = 150;
/** Reads this small make the heap samples fine-grained (the CLI reads 1 MiB at a time). */
const READ_BYTES = 64 * 1024;

export async function run(): Promise<BenchResult> {
  const file = path.join(await workDir('import-catalog'), `catalog-${PACKAGES}.xml`);
  const bytes = await writeCatalog(file, PACKAGES, 20);

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
  return {
    name: 'import-catalog',
    figures: {
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
    reference: 'JSON.parse of a string the size of the catalog',
    ratio: Math.round((ms / Math.max(referenceMs, 0.001)) * 10) / 10,
    target: `peak heap under ${PEAK_HEAP_TARGET_MB} MB`,
    met: peakMb < PEAK_HEAP_TARGET_MB,
  };
}

/** Reference in the same run: JSON.parse of a document of the same size, a floor for any import. */
async function jsonParseMs(file: string): Promise<number> {
  const json = JSON.stringify({ xml: await readFile(file, 'utf8') });
  const start = process.hrtime.bigint();
  JSON.parse(json);
  return Number(process.hrtime.bigint() - start) / 1e6;
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
