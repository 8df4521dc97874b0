/**
 * A large vendor catalog imports with bounded memory: the heap grows with the largest package,
 * not with the catalog. Parsed whole, this catalog (about 20 MB) took over 500 MB of heap.
 * Alone in its file, so that no other test allocates while the heap is sampled.
 */
import { createReadStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import test from 'ava';
import { writeCatalog } from '../../../bench/fixtures-gen.js';
import { importCatalogFrom } from '../../../src/publish/sdp/index.js';

const PACKAGES = 500;
/** Several times what the import needs (about 40 MB with garbage), far below the whole tree. */
const MAX_GROWTH_MB = 120;

/** V8's `gc`, so that the baseline is what is live rather than earlier garbage. */
function collectGarbage(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

test('500 packages import in dry run with the heap bounded', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'upcat-catalog-memory-'));
  try {
    const file = path.join(dir, 'catalog.xml');
    // One package in five has the 180 KB driver shape: about 20 MB in all.
    const bytes = await writeCatalog(file, PACKAGES, 5);
    t.true(bytes > 15e6);

    collectGarbage();
    const baseline = process.memoryUsage().heapUsed;
    let peak = baseline;
    async function* sampled(): AsyncGenerator<string> {
      // Small reads, so the heap is sampled often (about every two small packages).
      for await (const chunk of createReadStream(file, {
        encoding: 'utf8',
        highWaterMark: 16_384,
      })) {
        peak = Math.max(peak, process.memoryUsage().heapUsed);
        yield chunk as string;
      }
    }
    const result = await importCatalogFrom(sampled, { dryRun: true });
    peak = Math.max(peak, process.memoryUsage().heapUsed);

    t.like(result.summary, { packages: PACKAGES, mapped: PACKAGES, invalid: 0, published: 0 });
    t.true(result.packages.every((p) => p.status === 'planned'));
    const growthMb = (peak - baseline) / 1e6;
    t.log(`catalog ${(bytes / 1e6).toFixed(1)} MB, peak heap growth ${growthMb.toFixed(1)} MB`);
    t.true(growthMb < MAX_GROWTH_MB, `heap grew by ${growthMb.toFixed(1)} MB`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
