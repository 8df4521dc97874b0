import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { EMPTY_REQUEST, SnapshotProvider } from '../../../src/agent/inventory/index.js';
import { UpcatError } from '../../../src/errors.js';

test('a snapshot file is validated and returned whole; errors name the file and field', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'upcat-snap-'));
  try {
    const good = path.join(dir, 'good.json');
    await writeFile(
      good,
      JSON.stringify({ platform: { name: 'linux' }, facts: { 'os.id': 'debian' } }),
    );
    const provider = await SnapshotProvider.fromFile(good);
    t.deepEqual(await provider.collect(EMPTY_REQUEST), {
      platform: { name: 'linux' },
      facts: { 'os.id': 'debian' },
    });
    const bad = path.join(dir, 'bad.json');
    await writeFile(bad, JSON.stringify({ platform: { name: 'linux', arch: 'x64' } }));
    const err = await t.throwsAsync(SnapshotProvider.fromFile(bad), { instanceOf: UpcatError });
    t.regex(err?.message ?? '', /bad\.json\.platform: unknown field "arch"/);
    const missing = await t.throwsAsync(SnapshotProvider.fromFile(path.join(dir, 'nope.json')));
    t.regex(missing?.message ?? '', /does not exist/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
