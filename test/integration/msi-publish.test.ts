import { createReadStream } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { UpcatError } from '../../src/errors.js';
import type { Site } from '../../src/app.js';
import { dbTest } from '../helpers/site.js';
import { buildMsi } from '../unit/msi/build-msi.js';

const CODE = '{0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0}';

function manifest(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    title: 'Contoso Tool 5.0.1',
    product: 'Contoso Tool',
    classification: 'Updates',
    version: '5.0.1',
    handler: { type: 'msi', productCode: CODE, installCommandLine: '/qn' },
    ...over,
  };
}

async function storedRules(site: Site, updateId: string) {
  const row = (await site.db('revisions').where({ update_id: updateId }).first()) as {
    is_installed: string | null;
    is_installable: string | null;
  };
  return {
    isInstalled: row.is_installed === null ? null : (JSON.parse(row.is_installed) as unknown),
    isInstallable: row.is_installable === null ? null : (JSON.parse(row.is_installable) as unknown),
  };
}

async function withMsi<T>(fn: (file: string, dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'upcat-msi-pub-'));
  try {
    const file = await buildMsi(dir, {
      name: 'Contoso Tool',
      version: '5.0.1',
      manufacturer: 'Contoso Ltd',
      productCode: CODE,
    });
    return await fn(file, dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const publish = (site: Site, file: string, m: Record<string, unknown>, fileName?: string) =>
  site.publish.publish({
    source: createReadStream(file),
    fileName: fileName ?? path.basename(file),
    manifest: m,
    actor: 'test',
  });

dbTest('an .msi published without rules gets MsiProductInstalled and True', async (t, { site }) => {
  await withMsi(async (file) => {
    const result = await publish(site, file, manifest());
    t.deepEqual(await storedRules(site, result.updateId), {
      isInstalled: { MsiProductInstalled: { ProductCode: CODE, VersionMin: '5.0.1' } },
      isInstallable: { True: {} },
    });
  });
});

dbTest('rules the manifest gives are kept as they are', async (t, { site }) => {
  await withMsi(async (file) => {
    const result = await publish(
      site,
      file,
      manifest({ isInstallable: { Platform: { Name: 'windows' } } }),
    );
    t.deepEqual(await storedRules(site, result.updateId), {
      isInstalled: null,
      isInstallable: { Platform: { Name: 'windows' } },
    });
  });
});

dbTest(
  'an msi handler naming another ProductCode is refused, nothing stored',
  async (t, { site }) => {
    await withMsi(async (file) => {
      const wrong = manifest({
        handler: { type: 'msi', productCode: '{99999999-9999-9999-9999-999999999999}' },
      });
      const err = await t.throwsAsync(publish(site, file, wrong), { instanceOf: UpcatError });
      t.is(err?.code, 'invalid_input');
      t.regex(err?.message ?? '', /handler\.productCode/);
      t.is((await site.catalog.listUpdates()).length, 0);
    });
  },
);

dbTest(
  'a file named .msi that is no MSI, without rules, is refused by name',
  async (t, { site }) => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'upcat-msi-bad-'));
    try {
      const file = path.join(dir, 'fake.msi');
      await writeFile(file, 'just text');
      const m = manifest({ handler: { type: 'commandLine', program: 'fake.msi' } });
      const err = await t.throwsAsync(publish(site, file, m), { instanceOf: UpcatError });
      t.is(err?.code, 'invalid_input');
      t.regex(err?.message ?? '', /fake\.msi/);
      t.is((await site.catalog.listUpdates()).length, 0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  },
);
