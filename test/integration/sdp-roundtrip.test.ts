import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Site } from '../../src/app.js';
import { importCatalogFile, importCatalogXml } from '../../src/publish/sdp/index.js';
import { exportCatalog } from '../../src/windows/sdp/index.js';
import { fileManifest, publishBytes } from '../helpers/publish.js';
import { validateCatalog } from '../helpers/sdp-schema.js';
import { dbTest, makeSite } from '../helpers/site.js';
import { buildCatalog } from '../unit/sdp/catalog-builder.js';

/**
 * Round trip (issue 11 item 8): export the catalog, import it into an empty site, and the
 * revisions, rules, files, handlers and relationships are the same. The rules here are the ones
 * Microsoft's vocabulary says directly (Platform and Fact are rewritten or left out by design).
 */
async function publishSample(site: Site, dir: string): Promise<string> {
  const publish = async (name: string, body: string, over: Record<string, unknown>) => {
    await writeFile(path.join(dir, name), body);
    return publishBytes(site, body, fileManifest(name, over), name);
  };
  const base = await publish('runtime.exe', 'runtime', {
    title: 'Contoso Runtime 1.0',
    product: 'Contoso Runtime',
    description: 'The runtime.',
    isInstallable: { Processor: { Architecture: 'x64' } },
    isInstalled: {
      FileVersion: {
        Path: 'Contoso\\runtime.dll',
        Csidl: 38,
        Comparison: 'GreaterThanOrEqualTo',
        Version: '1.0.0.0',
      },
    },
  });
  const old = await publish('tool-1.exe', 'tool one', {
    title: 'Contoso Tool 1.0',
    description: 'First.',
    isInstallable: { WindowsVersion: { Comparison: 'GreaterThanOrEqualTo', MajorVersion: 10 } },
  });
  const tool = await publish('tool-2.exe', 'tool two', {
    title: 'Contoso Tool 2.0',
    description: 'Second release.',
    version: '2.0',
    classification: 'Security Updates',
    handler: {
      type: 'commandLine',
      program: 'tool-2.exe',
      arguments: '/S /norestart',
      returnCodes: [
        { code: 0, result: 'Succeeded', reboot: false },
        { code: 3010, result: 'Succeeded', reboot: true },
        { code: 1602, result: 'Cancelled', reboot: false },
      ],
      defaultResult: 'Failed',
    },
    isInstalled: {
      RegSz: {
        Key: 'HKEY_LOCAL_MACHINE',
        Subkey: 'SOFTWARE\\Contoso\\Tool',
        Value: 'Version',
        Comparison: 'EqualTo',
        Data: '2.0',
      },
    },
    isInstallable: {
      And: [
        {
          Not: { RegKeyExists: { Key: 'HKEY_LOCAL_MACHINE', Subkey: 'SOFTWARE\\Contoso\\NoTool' } },
        },
        {
          Or: [
            {
              WmiQuery: {
                WqlQuery: "SELECT * FROM Win32_ComputerSystem WHERE Manufacturer = 'HP'",
              },
            },
            { True: {} },
          ],
        },
      ],
    },
    supersedes: [old.updateId],
    prerequisites: [[base.updateId]],
  });
  await publish('agent.msi', 'msi bytes', {
    title: 'Contoso Agent 3.1',
    product: 'Contoso Agent',
    description: 'The agent.',
    version: '3.1',
    handler: {
      type: 'msi',
      productCode: '{0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0}',
      installCommandLine: 'REBOOT=ReallySuppress',
      uninstallCommandLine: 'REBOOT=ReallySuppress /qn',
    },
    isInstallable: {
      Or: [{ Processor: { Architecture: 'x86' } }, { Processor: { Architecture: 'x64' } }],
    },
    isInstalled: {
      MsiProductInstalled: {
        ProductCode: '{0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0}',
        VersionMin: '3.1',
      },
    },
  });
  // Publish has no bundles field; the catalog model has them (synced updates): Tool 2.0 bundles
  // the runtime (exported as sdp:BundledPackages).
  const toolRevision = (await site
    .db('revisions')
    .where({ update_id: tool.updateId })
    .first('id')) as { id: number };
  await site.db('relationships').insert({
    revision_id: toolRevision.id,
    kind: 'bundles',
    group_index: 0,
    target_update_id: base.updateId,
  });
  return base.updateId;
}

/** Everything a revision says, in a form that compares across sites. */
async function describeCatalog(site: Site): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const u of await site.catalog.listUpdates()) {
    const view = await site.catalog.getUpdate(u.updateId);
    const latest = view?.revisions.at(-1);
    const row = (await site
      .db('revisions')
      .where({ update_id: u.updateId, revision_number: u.latestRevision })
      .first()) as {
      id: number;
      description: string;
      handler: string;
      is_installed: string | null;
      is_installable: string | null;
    };
    out[u.updateId] = {
      title: latest?.title,
      description: row.description,
      product: latest?.product,
      classification: latest?.classification,
      // An SDP has no version field: the importer reads it back from the IsInstalled rule (or the
      // title), where bt:Version has four parts. Compared as upcat compares versions (1.0 = 1.0.0.0).
      version: [...(latest?.version ?? '').split('.'), '0', '0', '0'].slice(0, 4).join('.'),
      handler: JSON.parse(row.handler) as unknown,
      isInstalled: row.is_installed === null ? null : (JSON.parse(row.is_installed) as unknown),
      isInstallable:
        row.is_installable === null ? null : (JSON.parse(row.is_installable) as unknown),
      files: latest?.files.map(({ name, sha1, sha256, size }) => ({ name, sha1, sha256, size })),
      prerequisites: latest?.prerequisites,
      supersedes: [...(latest?.supersedes ?? [])].sort(),
      bundles: (
        (await site
          .db('relationships')
          .where({ revision_id: row.id, kind: 'bundles' })
          .select('target_update_id')) as Array<{ target_update_id: string }>
      )
        .map((r) => r.target_update_id)
        .sort(),
    };
  }
  return out;
}

dbTest(
  'round trip: export catalog, import-catalog into an empty site, the same revisions, rules, files and handlers',
  async (t, { site, kind }) => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'upcat-roundtrip-'));
    const target = await makeSite(kind);
    try {
      const runtimeId = await publishSample(site, dir);
      const file = path.join(dir, 'catalog.xml');
      const exported = await exportCatalog(site.db, { vendorName: 'Contoso IT' }, { out: file });
      t.is(exported.packages.length, 4);
      t.deepEqual(exported.leftOut, []);

      const imported = await importCatalogFile(file, {
        dryRun: false,
        payloadDir: dir,
        site: { ...target.site, limits: target.site.config.limits },
        actor: 'test',
      });
      t.is(
        imported.summary.failed,
        0,
        JSON.stringify(imported.packages.filter((p) => p.status === 'failed')),
      );
      const before = await describeCatalog(site);
      const after = await describeCatalog(target.site);
      t.deepEqual(Object.keys(after).sort(), Object.keys(before).sort());
      for (const id of Object.keys(before)) t.deepEqual(after[id], before[id], `update ${id}`);
      t.true(
        Object.values(before).some((u) => (u as { bundles: string[] }).bundles.length === 1),
        'the sample has a bundle',
      );
      t.is(await rowCount(target.site, 'pending_references'), 0);

      // Without the runtime in the catalog, the bundle (and the prerequisite) naming it wait in
      // pending_references, and become relationships when the runtime arrives.
      const partial = await makeSite(kind);
      try {
        const toolOnly = path.join(dir, 'tool-only.xml');
        await exportCatalog(
          site.db,
          { vendorName: 'Contoso IT' },
          { product: 'Contoso Tool', out: toolOnly },
        );
        const deps = { ...partial.site, limits: partial.site.config.limits };
        const one = await importCatalogFile(toolOnly, {
          dryRun: false,
          payloadDir: dir,
          site: deps,
          actor: 'test',
        });
        t.is(one.summary.failed, 0);
        const pending = (await partial.site
          .db('pending_references')
          .orderBy('kind')
          .select('kind', 'target_update_id')) as Array<Record<string, string>>;
        t.deepEqual(pending, [
          { kind: 'bundles', target_update_id: runtimeId },
          { kind: 'prerequisite', target_update_id: runtimeId },
        ]);
        await importCatalogFile(file, {
          dryRun: false,
          payloadDir: dir,
          site: deps,
          actor: 'test',
        });
        t.is(await rowCount(partial.site, 'pending_references'), 0);
        t.deepEqual(await describeCatalog(partial.site), before);
      } finally {
        await partial.cleanup();
      }
    } finally {
      await target.cleanup();
      await rm(dir, { recursive: true, force: true });
    }
  },
);

async function rowCount(site: Site, table: string): Promise<number> {
  const [row] = (await site.db(table).count({ n: '*' })) as Array<{ n: number | string }>;
  return Number(row?.n);
}

/** What a vendor package says, per update, from the vendor tables and the revision. */
async function describeVendor(site: Site): Promise<Record<string, unknown>> {
  const rows = (await site
    .db('revisions as r')
    .join('vendor_revisions as v', 'v.revision_id', 'r.id')
    .select(
      'r.update_id',
      'r.title',
      'r.product',
      'r.version',
      'r.handler',
      'r.is_installed',
      'r.is_installable',
      'v.metadata',
    )) as Array<Record<string, string>>;
  return Object.fromEntries(
    rows.map((r) => [
      r['update_id'],
      {
        title: r['title'],
        product: r['product'],
        version: r['version'],
        handler: JSON.parse(r['handler'] ?? 'null') as unknown,
        isInstalled: JSON.parse(r['is_installed'] ?? 'null') as unknown,
        isInstallable: JSON.parse(r['is_installable'] ?? 'null') as unknown,
        metadata: JSON.parse(r['metadata'] ?? 'null') as unknown,
      },
    ]),
  );
}

dbTest(
  'round trip of vendor packages imported metadata-only: what the vendor said comes back, and the export validates',
  async (t, { site, kind }) => {
    const target = await makeSite(kind);
    const dir = await mkdtemp(path.join(os.tmpdir(), 'upcat-roundtrip-'));
    try {
      const first = await importCatalogXml(buildCatalog(4), {
        dryRun: false,
        metadataOnly: true,
        site: { ...site, limits: site.config.limits },
        actor: 'test',
      });
      t.is(first.summary.failed, 0);
      const file = path.join(dir, 'catalog.xml');
      const exported = await exportCatalog(site.db, { vendorName: 'Contoso IT' }, { out: file });
      t.deepEqual(exported.leftOut, []);
      const xml = await readFile(file, 'utf8');
      t.deepEqual((await validateCatalog(xml)).invalid, []);
      t.regex(
        xml,
        /OriginUri="https?:\/\/[^"]*dell[^"]*"/i,
        'metadata-only packages point at the vendor',
      );

      const second = await importCatalogFile(file, {
        dryRun: false,
        metadataOnly: true,
        site: { ...target.site, limits: target.site.config.limits },
        actor: 'test',
      });
      t.is(second.summary.failed, 0);
      const before = await describeVendor(site);
      const after = await describeVendor(target.site);
      t.is(Object.keys(before).length, 4);
      t.deepEqual(Object.keys(after).sort(), Object.keys(before).sort());
      for (const id of Object.keys(before)) t.deepEqual(after[id], before[id], `update ${id}`);
    } finally {
      await target.cleanup();
      await rm(dir, { recursive: true, force: true });
    }
  },
);
