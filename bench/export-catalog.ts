/**
 * Issue 11 item 8/9 benchmark: export and sign a 10,000-revision catalog, as
 * `GET /catalog/v1/upcat.cab` does after a catalog change (load from the database, write the
 * smc:SystemsManagementCatalog, MSZIP cabinet, Authenticode signature).
 * Reference, in the same run: `gcab -c -z` plus `osslsigncode sign` of the same XML (packaging and
 * signing alone, by the standard tools). Target: export and signing under 10 s.
 *
 * The catalog is written straight into the tables (updates, revisions, files, relationships) in
 * batches: publishing 10,000 updates through the publish service takes far longer than the
 * export being measured, and the export reads only those tables.
 * Run: node --import tsx bench/export-catalog.ts   (BENCH_EXPORT_UPDATES scales it down)
 */
import { createHash, randomUUID } from 'node:crypto';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { initSite, openSite, type Site } from '../src/app.js';
import { initSiteSigning } from '../src/signing/site-signing.js';
import { exportCatalog, exportOptionsOf } from '../src/windows/sdp/index.js';
import { CatalogCabCache } from '../src/windows/sdp/catalog-cab.js';
import type { BenchResult } from './types.js';
import { timed, workDir } from './util.js';

const UPDATES = Number(process.env['BENCH_EXPORT_UPDATES'] ?? 10_000);
const TARGET_MS = 10_000;
const BATCH = 500;

export async function run(): Promise<BenchResult> {
  const dir = await workDir('export-catalog');
  const home = await mkdtemp(path.join(dir, 'site-'));
  try {
    const { config } = await initSite({ home, env: {} });
    await initSiteSigning(config);
    const site = await openSite({ home, env: {}, logLevel: 'silent' });
    try {
      const fillStarted = process.hrtime.bigint();
      await fill(site);
      const fillMs = elapsed(fillStarted);

      // Warm-up on a scaled-down copy would need another site; one untimed export warms the
      // JIT and the page cache for both contenders instead.
      const warm = await exportCatalog(site.db, exportOptionsOf(site.config), {});
      const xmlFile = path.join(home, 'upcat.xml');
      await writeFile(xmlFile, warm.xml ?? '');

      const exportStarted = process.hrtime.bigint();
      const exported = await exportCatalog(site.db, exportOptionsOf(site.config), {});
      const exportMs = elapsed(exportStarted);

      const signing = site.signing;
      if (signing === undefined) throw new Error('no signing keys');
      const cache = new CatalogCabCache({
        db: site.db,
        config: site.config,
        signing,
        log: site.log,
      });
      const cabStarted = process.hrtime.bigint();
      const cab = await cache.current();
      const cabMs = elapsed(cabStarted);

      const ref = await reference(home, xmlFile, signing.publisher);
      return {
        name: `export and sign a catalog of ${UPDATES.toLocaleString('en-US')} revisions (GET /catalog/v1/upcat.cab build, embedded SQLite)`,
        reference: '`gcab -c -z` + `osslsigncode sign -h sha256` of the same catalog XML',
        figures: {
          'export + MSZIP cabinet + Authenticode ms': Math.round(cabMs),
          'export alone (load + XML) ms': Math.round(exportMs),
          'reference: gcab -c -z ms': Math.round(ref.gcabMs),
          'reference: osslsigncode sign ms': Math.round(ref.signMs),
          'packages exported': exported.packages.length,
          'packages left out': exported.leftOut.length,
          'catalog XML bytes': exported.bytes,
          'signed CAB bytes': cab.size,
          'reference signed CAB bytes': ref.bytes,
          'table fill ms (setup, not measured)': Math.round(fillMs),
        },
        ratio: Math.round((cabMs / (ref.gcabMs + ref.signMs)) * 100) / 100,
        target: 'export and signing of 10,000 revisions < 10 s',
        met: cabMs < TARGET_MS && UPDATES >= 10_000,
      };
    } finally {
      await site.close();
    }
  } finally {
    await rm(home, { recursive: true, force: true });
  }
}

/** UPDATES updates of one revision each, with rules, return codes and a supersedence chain. */
async function fill(site: Site): Promise<void> {
  const now = new Date().toISOString();
  const ids = Array.from({ length: UPDATES }, () => randomUUID());
  await site
    .db('catalog_versions')
    .insert({ version: 1, reason: 'publish', actor: 'bench', created_at: now });
  for (let start = 0; start < UPDATES; start += BATCH) {
    const slice = ids.slice(start, start + BATCH);
    await site.db.transaction(async (trx) => {
      await trx('updates').insert(
        slice.map((id, k) => ({
          update_id: id,
          product: `Contoso Product ${(start + k) % 50}`,
          classification: 'Updates',
          state: 'active',
          created_at: now,
          latest_revision: 1,
        })),
      );
      await trx('revisions').insert(slice.map((id, k) => revisionRow(id, start + k, now)));
      const rows = (await trx('revisions')
        .whereIn('update_id', slice)
        .select('id', 'update_id')) as Array<{
        id: number;
        update_id: string;
      }>;
      const idOf = new Map(rows.map((r) => [r.update_id, r.id]));
      const files = slice.map((id, k) => {
        const body = `payload ${start + k}`;
        return {
          revision_id: idOf.get(id),
          name: `setup-${start + k}.exe`,
          sha256: createHash('sha256').update(body).digest('hex'),
          sha1: createHash('sha1').update(body).digest('hex'),
          size: 1000 + k,
          kind: 'file',
        };
      });
      await trx('blobs').insert(
        files.map((f) => ({ sha256: f.sha256, sha1: f.sha1, size: f.size, created_at: now })),
      );
      await trx('files').insert(files);
      const previous = slice.flatMap((id, k) =>
        start + k === 0
          ? []
          : [
              {
                revision_id: idOf.get(id),
                kind: 'supersedes',
                group_index: 0,
                target_update_id: ids[start + k - 1],
              },
            ],
      );
      if (previous.length > 0) await trx('relationships').insert(previous);
    });
  }
  await site.db('catalog_state').where({ id: 1 }).update({ version: 1 });
}

function revisionRow(id: string, i: number, now: string): Record<string, unknown> {
  const handler = {
    type: 'commandLine',
    program: `setup-${i}.exe`,
    arguments: '/S /norestart',
    returnCodes: [
      { code: 0, result: 'Succeeded', reboot: false },
      { code: 3010, result: 'Succeeded', reboot: true },
    ],
    defaultResult: 'Failed',
  };
  const isInstalled = {
    RegSz: {
      Comparison: 'EqualTo',
      Data: `${i}.0`,
      Key: 'HKEY_LOCAL_MACHINE',
      Subkey: `SOFTWARE\\Contoso\\P${i % 50}`,
      Value: 'Version',
    },
  };
  const isInstallable = {
    And: [
      { Platform: { Comparison: 'GreaterThanOrEqualTo', Name: 'windows', Version: '10.0.17763' } },
      { Processor: { Architecture: 'x64' } },
      { Not: { FileExists: { Csidl: 38, Path: `Contoso\\P${i % 50}\\disabled.flag` } } },
    ],
  };
  return {
    update_id: id,
    revision_number: 1,
    title: `Contoso Product ${i % 50} build ${i}`,
    description: `Build ${i} of Contoso Product ${i % 50}: fixes and improvements.`,
    product: `Contoso Product ${i % 50}`,
    classification: 'Updates',
    version: `${1 + (i % 9)}.${i % 100}.${i}`,
    handler: JSON.stringify(handler),
    is_installed: JSON.stringify(isInstalled),
    is_installable: JSON.stringify(isInstallable),
    content_key: `bench-${i}`,
    catalog_version: 1,
    created_at: now,
  };
}

async function reference(
  home: string,
  xmlFile: string,
  publisher: { certificatePem: string; privateKeyPem: string },
): Promise<{ gcabMs: number; signMs: number; bytes: number }> {
  const cert = path.join(home, 'ref-cert.pem');
  const key = path.join(home, 'ref-key.pem');
  await writeFile(cert, publisher.certificatePem);
  await writeFile(key, publisher.privateKeyPem, { mode: 0o600 });
  const cab = path.join(home, 'ref.cab');
  const signed = path.join(home, 'ref-signed.cab');
  // gcab stores the path it is given: run it from the XML's folder so the entry is "upcat.xml".
  const gcab = await timed('sh', [
    '-c',
    `cd "${path.dirname(xmlFile)}" && gcab -c -z "${cab}" upcat.xml`,
  ]);
  const sign = await timed('osslsigncode', [
    'sign',
    '-certs',
    cert,
    '-key',
    key,
    '-h',
    'sha256',
    '-in',
    cab,
    '-out',
    signed,
  ]);
  return { gcabMs: gcab.ms, signMs: sign.ms, bytes: (await stat(signed)).size };
}

function elapsed(started: bigint): number {
  return Number(process.hrtime.bigint() - started) / 1e6;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  console.log(JSON.stringify(await run(), null, 2));
}
