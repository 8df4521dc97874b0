/**
 * Issue 4 benchmark: import (dry run) a vendor catalog of about 2,000 packages, generated from
 * the shapes of the real SDP fixtures: most packages like the Dell MSI package (small), one in
 * twenty like the Dell driver package (180 KB, 615 WmiQuery rules), as vendor catalogs mix them.
 * Reading the file is not timed; parsing, mapping and checking every manifest is.
 * Run: node --import tsx bench/import-catalog.ts
 */
import { pathToFileURL } from 'node:url';
import { importCatalogXml } from '../src/publish/sdp/index.js';
import { buildCatalog } from '../test/unit/sdp/catalog-builder.js';

export interface BenchResult {
  name: string;
  figures: Record<string, number | string>;
  reference?: string;
  ratio?: number;
}

const PACKAGES = 2_000;

export async function run(): Promise<BenchResult> {
  const xml = buildCatalog(PACKAGES, 20);
  // Reference in the same run: JSON.parse of a document of the same size, a floor for any import.
  const json = JSON.stringify({ xml });
  const refStart = process.hrtime.bigint();
  JSON.parse(json);
  const referenceMs = Number(process.hrtime.bigint() - refStart) / 1e6;

  const start = process.hrtime.bigint();
  const result = await importCatalogXml(xml, { dryRun: true });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  return {
    name: 'import-catalog',
    figures: {
      packages: result.summary.packages,
      mapped: result.summary.mapped,
      invalid: result.summary.invalid,
      'catalog MB': Math.round((Buffer.byteLength(xml) / 1e6) * 10) / 10,
      'total ms': Math.round(ms),
      'ms per package': Math.round((ms / PACKAGES) * 100) / 100,
      'heap MB after': Math.round(process.memoryUsage().heapUsed / 1e6),
    },
    reference: 'JSON.parse of a string the size of the catalog',
    ratio: Math.round((ms / Math.max(referenceMs, 0.001)) * 10) / 10,
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const result = await run();
  console.log(JSON.stringify(result, null, 2));
}
