import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { hardwareId, linuxHardwareId } from '../../../src/agent/hardware-id.js';

async function sysfs(files: Record<string, string>, mode = 0o644): Promise<string> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'upcat-sysfs-'));
  for (const [file, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(root, file)), { recursive: true });
    await writeFile(path.join(root, file), content, { mode });
  }
  return root;
}

const nic = (name: string, mac: string, physical = true): Record<string, string> => ({
  [`sys/class/net/${name}/address`]: `${mac}\n`,
  ...(physical ? { [`sys/class/net/${name}/device/vendor`]: '0x8086\n' } : {}),
});

test('hashes product UUID, board serial and physical MACs; virtual interfaces do not count', async (t) => {
  const root = await sysfs({
    'sys/class/dmi/id/product_uuid': 'ABCDEF01-2345-6789-ABCD-EF0123456789\n',
    'sys/class/dmi/id/board_serial': 'SN123\n',
    ...nic('eth0', '52:54:00:12:34:56'),
    ...nic('docker0', '02:42:ac:11:00:02', false),
    ...nic('lo', '00:00:00:00:00:00', false),
  });
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const hw = await linuxHardwareId(root);
  const expected = createHash('sha256')
    .update(
      'product_uuid=abcdef01-2345-6789-abcd-ef0123456789\nboard_serial=sn123\nmac=52:54:00:12:34:56',
    )
    .digest('hex');
  t.is(hw.id, expected);
  t.deepEqual(hw.sources, ['product_uuid', 'board_serial', 'mac (1)']);
  t.deepEqual(hw.warnings, []);
  // Stable: the same attributes give the same ID; another NIC gives another.
  t.is((await linuxHardwareId(root)).id, expected);
  await writeFile(path.join(root, 'sys/class/net/eth0/address'), '52:54:00:00:00:01\n');
  t.not((await linuxHardwareId(root)).id, expected);
});

test('placeholder DMI values are ignored; MACs alone carry the ID, with a warning', async (t) => {
  const root = await sysfs({
    'sys/class/dmi/id/product_uuid': '03000200-0400-0500-0006-000700080009\n',
    'sys/class/dmi/id/board_serial': 'To be filled by O.E.M.\n',
    ...nic('enp1s0', '52:54:00:aa:bb:cc'),
  });
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const hw = await linuxHardwareId(root);
  t.deepEqual(hw.sources, ['mac (1)']);
  t.regex(hw.warnings.join('\n'), /product_uuid unreadable/);
});

test('unreadable DMI files (non-root) are named in the warnings', async (t) => {
  if (process.getuid?.() === 0) {
    // root reads 0400 files anyway: simulate with absent files, which warn the same way
    const root = await sysfs({ ...nic('eth0', '52:54:00:12:34:56') });
    t.teardown(() => rm(root, { recursive: true, force: true }));
    const hw = await linuxHardwareId(root);
    t.regex(hw.warnings.join('\n'), /product_uuid: ENOENT/);
    t.deepEqual(hw.sources, ['mac (1)']);
    return;
  }
  const root = await sysfs(
    { 'sys/class/dmi/id/product_uuid': 'x', ...nic('eth0', '52:54:00:12:34:56') },
    0o000,
  );
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const hw = await linuxHardwareId(root);
  t.regex(hw.warnings.join('\n'), /not readable \(needs root\)/);
});

test('nothing readable: machine-id and host name, never machine-id alone', async (t) => {
  const root = await sysfs({ 'etc/machine-id': '0123456789abcdef0123456789abcdef\n' });
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const hw = await linuxHardwareId(root);
  t.deepEqual(hw.sources, ['machine-id', 'hostname']);
  t.not(
    hw.id,
    createHash('sha256').update('machine-id=0123456789abcdef0123456789abcdef').digest('hex'),
  );
  t.regex(hw.warnings.join('\n'), /cloned disk/);
});

test('--hardware-id must fit an HTTP header: printable ASCII, 1-128 characters', async (t) => {
  t.like(await hardwareId('sim-0001'), { id: 'sim-0001', sources: ['--hardware-id'] });
  for (const bad of ['', 'with space', 'é', 'x'.repeat(129), 'a\nb'])
    await t.throwsAsync(hardwareId(bad), {
      message: '--hardware-id: must be 1-128 printable ASCII characters without spaces',
    });
});
