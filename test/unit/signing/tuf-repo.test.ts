import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { UpcatError } from '../../../src/errors.js';
import { initKeys, loadKeyring } from '../../../src/signing/key-store.js';
import { publishTargets, readRepository } from '../../../src/signing/tuf-repo.js';
import { listTargets, readState } from '../../../src/signing/tuf-state.js';
import { checkTargetName, type TargetInput } from '../../../src/signing/tuf-targets.js';

const target = (name: string): TargetInput => ({
  name,
  length: 1,
  hashes: { sha256: 'a'.repeat(64) },
  custom: { updateId: name },
});

async function repo(): Promise<{ dir: string; signing: string; cleanup(): Promise<void> }> {
  const home = await mkdtemp(path.join(os.tmpdir(), 'upcat-tufrepo-'));
  const signing = path.join(home, 'signing');
  await initKeys(signing);
  return {
    dir: path.join(home, 'tuf'),
    signing,
    cleanup: () => rm(home, { recursive: true, force: true }),
  };
}

test('version 1 lists every bin in snapshot and records the catalog version', async (t) => {
  const r = await repo();
  try {
    const ring = await loadKeyring(r.signing);
    await publishTargets(
      r.dir,
      ring,
      { add: [target('a.xml')], catalogVersion: 7 },
      { binBits: 3 },
    );
    const state = await readState(r.dir);
    t.is(Object.keys(state?.snapshot.signed.meta ?? {}).length, 8 + 1);
    t.is((await readRepository(r.dir))?.catalogVersion, 7);
    t.deepEqual([...(await listTargets(r.dir)).keys()], ['a.xml']);
  } finally {
    await r.cleanup();
  }
});

test('removing a target re-signs its bin without it', async (t) => {
  const r = await repo();
  try {
    const ring = await loadKeyring(r.signing);
    await publishTargets(r.dir, ring, { add: [target('a.xml'), target('b.xml')] }, { binBits: 2 });
    const next = await publishTargets(r.dir, ring, { remove: ['a.xml'] });
    t.is(next.written.length, 3);
    t.deepEqual([...(await listTargets(r.dir)).keys()], ['b.xml']);
    const none = await publishTargets(r.dir, ring, { remove: ['absent.xml'] });
    t.deepEqual(
      none.written,
      [`${none.snapshotVersion}.snapshot.json`, 'timestamp.json'],
      'nothing to change in a bin: only snapshot and timestamp move',
    );
  } finally {
    await r.cleanup();
  }
});

test('concurrent writers are serialized by the lock: versions never collide', async (t) => {
  const r = await repo();
  try {
    const ring = await loadKeyring(r.signing);
    await publishTargets(r.dir, ring, {}, { binBits: 2 });
    const results = await Promise.all(
      ['x', 'y', 'z'].map((n) => publishTargets(r.dir, ring, { add: [target(`${n}.xml`)] })),
    );
    t.deepEqual(results.map((s) => s.snapshotVersion).sort(), [2, 3, 4]);
    t.is((await listTargets(r.dir)).size, 3);
  } finally {
    await r.cleanup();
  }
});

test('target names must be plain relative paths', (t) => {
  for (const bad of ['', '/abs', 'a/../b', '.hidden', 'a b', 'a\\b', 'a//b', '%2e%2e']) {
    const err = t.throws(() => checkTargetName(bad), { instanceOf: UpcatError }, bad);
    t.is(err?.code, 'invalid_input');
  }
  t.notThrows(() => checkTargetName('updates/0f1e-2d3c/1.xml'));
});
