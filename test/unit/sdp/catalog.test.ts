import test from 'ava';
import { UpcatError } from '../../../src/errors.js';
import { importCatalog, importCatalogXml } from '../../../src/publish/sdp/index.js';
import { buildCatalog } from './catalog-builder.js';
import { DELL_MSI, fixture, withWindowsLanguage } from './fixtures.js';

test('every package of a vendor catalog is mapped, one by one', (t) => {
  const packages = importCatalog(buildCatalog(6));
  t.is(packages.length, 6);
  t.true(packages.every((p) => p.manifest !== undefined && p.errors.length === 0));
  t.is(new Set(packages.map((p) => p.packageId)).size, 6);
  t.regex(packages[4]?.title ?? '', /Package 4/);
});

test('dry run: per-package status and a summary by name; nothing is published', async (t) => {
  const xml = buildCatalog(4).replace(
    // One package loses its title: it cannot be mapped.
    /<sdp:Title>Package 2,[^<]*<\/sdp:Title>/,
    '',
  );
  const result = await importCatalogXml(withWindowsLanguage(xml), { dryRun: true });
  t.true(result.dryRun);
  t.deepEqual(
    result.packages.map((p) => p.status),
    ['planned', 'planned', 'invalid', 'planned'],
  );
  t.regex(result.packages[2]?.message ?? '', /no sdp:Title/);
  t.like(result.summary, { packages: 4, mapped: 3, invalid: 1, published: 0 });
  t.is(result.summary.unsupportedRulesByName['bar:WindowsLanguage'], 1);
  t.false('VendorName' in result.summary.unmappedByName, 'carried as vendor metadata');
});

test('a single SDP is not a catalog', async (t) => {
  const err = await t.throwsAsync(importCatalogXml(fixture(DELL_MSI), { dryRun: true }), {
    instanceOf: UpcatError,
  });
  t.regex(err?.message ?? '', /expected an smc:SystemsManagementCatalog/);
});
