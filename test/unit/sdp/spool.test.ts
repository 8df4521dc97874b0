import test from 'ava';
import { importSdp } from '../../../src/publish/sdp/index.js';
import { Spool } from '../../../src/publish/sdp/spool.js';
import { toVendorPackage, type VendorPackage } from '../../../src/publish/sdp/vendor-package.js';
import { DELL_DRIVER, DELL_MSI, fixture } from './fixtures.js';

/** Real packages (the Dell driver's rule tree is large), as the import checks them. */
function packages(): VendorPackage[] {
  return [DELL_MSI, DELL_DRIVER].map((name) => {
    const sdp = importSdp(fixture(name));
    if (sdp.manifest === undefined) throw new Error(`${name}: ${sdp.errors.join('; ')}`);
    return toVendorPackage(sdp.manifest, sdp.vendor, { mapped: true });
  });
}

async function readAll(spool: Spool, size: number) {
  const batches = [];
  for await (const batch of spool.batches(size)) batches.push(batch);
  return batches;
}

test('within the budget the packages stay in memory and come back in order, in batches', async (t) => {
  const [msi, driver] = packages() as [VendorPackage, VendorPackage];
  const spool = new Spool();
  for (let i = 0; i < 5; i++) await spool.write(i, i % 2 === 0 ? msi : driver);
  await spool.close();
  t.false(spool.onDisk);
  const batches = await readAll(spool, 2);
  t.deepEqual(
    batches.map((b) => b.map((item) => item.index)),
    [[0, 1], [2, 3], [4]],
  );
  t.is(batches[0]?.[1]?.pkg, driver);
  // Items are copies: what a run attaches to one is not seen by the next reader.
  (batches[0]?.[0] as { payload?: unknown }).payload = 'staged';
  const again = await readAll(spool, 10);
  t.is((again[0]?.[0] as { payload?: unknown }).payload, undefined);
  await spool.remove();
});

test('past the budget everything moves to a file and reads back equal, in the same order', async (t) => {
  const [msi, driver] = packages() as [VendorPackage, VendorPackage];
  const inMemory = new Spool();
  const onDisk = new Spool(200_000); // the driver package alone is over this
  for (let i = 0; i < 7; i++) {
    const pkg = i % 3 === 0 ? driver : msi;
    await inMemory.write(i, pkg);
    await onDisk.write(i, pkg);
  }
  await inMemory.close();
  await onDisk.close();
  t.false(inMemory.onDisk);
  t.true(onDisk.onDisk);
  // JSON lines lose nothing the store needs: the same packages, field for field.
  t.deepEqual(
    JSON.parse(JSON.stringify(await readAll(onDisk, 3))),
    JSON.parse(JSON.stringify(await readAll(inMemory, 3))),
  );
  t.deepEqual(
    (await readAll(onDisk, 3)).map((b) => b.map((item) => item.index)),
    [[0, 1, 2], [3, 4, 5], [6]],
  );
  await onDisk.remove();
  await inMemory.remove();
});
