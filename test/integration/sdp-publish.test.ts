import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { readManifestFile } from '../../src/cli/read-manifest.js';
import { UpcatError } from '../../src/errors.js';
import { dbTest } from '../helpers/site.js';
import { DELL_DRIVER, DELL_MSI, FIXTURES, fixture } from '../unit/sdp/fixtures.js';

const MSI_ID = 'dc718411-a5f1-4b15-966a-63a77cbb156e';
const DRIVER_ID = '0e6cf4ac-2853-48aa-825b-8fe28206575f';
const DRIVER_EXE = 'Realtek-High-Definition-Audio-Driver_99DDD_WIN_6.0.1.8454_A02_03.EXE';

async function tempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'upcat-sdp-pub-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

dbTest(
  'an SDP as manifest publishes with its PackageID, rules and supersedence',
  async (t, { site }) => {
    await tempDir(async (dir) => {
      const first = await readManifestFile(path.join(FIXTURES, DELL_MSI), 1024 * 1024);
      const a = await site.publish.publish({
        source: Readable.from([Buffer.from('msi bytes')]),
        fileName: 'DSIAPC_1.6.6.5.msi',
        manifest: first.manifest,
        actor: 'test',
      });
      t.is(a.updateId, MSI_ID);

      // The driver package supersedes the first one (SupersededPackages in schema order).
      const sdp = path.join(dir, 'driver.xml');
      await writeFile(
        sdp,
        fixture(DELL_DRIVER).replace(
          '<sdp:InstallableItem',
          `<sdp:SupersededPackages><sdp:PackageID>${MSI_ID}</sdp:PackageID></sdp:SupersededPackages><sdp:InstallableItem`,
        ),
      );
      const second = await readManifestFile(sdp, 1024 * 1024);
      t.truthy(second.sdp, 'detected as SDP by its root element, whatever the extension');
      const b = await site.publish.publish({
        source: Readable.from([Buffer.from('exe bytes')]),
        fileName: DRIVER_EXE,
        manifest: second.manifest,
        actor: 'test',
      });
      t.is(b.updateId, DRIVER_ID);
      const driver = await site.catalog.getUpdate(DRIVER_ID);
      t.deepEqual(driver?.revisions[0]?.supersedes, [MSI_ID]);
      t.is(driver?.revisions[0]?.version, '6.0.1.8454');
      t.is((await site.catalog.getUpdate(MSI_ID))?.supersededBy, DRIVER_ID);
      const row = (await site.db('revisions').where({ update_id: DRIVER_ID }).first()) as {
        is_installable: string;
      };
      t.is((row.is_installable.match(/"WmiQuery"/g) ?? []).length > 200, true);
    });
  },
);

dbTest(
  'an SDP whose program is not the payload is refused by publish, naming the field',
  async (t, { site }) => {
    const { manifest } = await readManifestFile(path.join(FIXTURES, DELL_DRIVER), 1024 * 1024);
    const err = await t.throwsAsync(
      site.publish.publish({
        source: Readable.from([Buffer.from('x')]),
        fileName: 'other.exe',
        manifest,
        actor: 'test',
      }),
      { instanceOf: UpcatError },
    );
    t.regex(err?.message ?? '', /handler\.program/);
    t.deepEqual(await site.catalog.listUpdates(), []);
  },
);
