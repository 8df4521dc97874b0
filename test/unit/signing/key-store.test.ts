import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { UpcatError } from '../../../src/errors.js';
import {
  addRoleKeys,
  initKeys,
  listKeys,
  loadKeyring,
  retireKeys,
} from '../../../src/signing/key-store.js';

async function withDir(t: ExecutionContext, fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'upcat-keys-'));
  try {
    await fn(path.join(dir, 'signing'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  t.pass();
}

test('initKeys creates one key per role by default, mode 0600, and is idempotent', (t) =>
  withDir(t, async (dir) => {
    const first = await initKeys(dir);
    t.deepEqual(
      first.created.map((k) => k.role),
      ['root', 'targets', 'snapshot', 'timestamp'],
    );
    for (const key of first.keys) t.is((await stat(key.file)).mode & 0o777, 0o600);
    t.is((await stat(path.join(dir, 'tuf', 'keys'))).mode & 0o777, 0o700);
    const second = await initKeys(dir, { thresholds: { root: 3 } });
    t.deepEqual(second.created, []);
    t.deepEqual(second.keys, first.keys);
    t.is((await loadKeyring(dir)).root.threshold, 1, 'an existing role keeps its threshold');
  }));

test('thresholds and key counts are configurable per role', (t) =>
  withDir(t, async (dir) => {
    await initKeys(dir, { thresholds: { root: 2, timestamp: 2 }, keyCounts: { root: 3 } });
    const ring = await loadKeyring(dir);
    t.is(ring.root.threshold, 2);
    t.is(ring.root.signers.length, 3);
    t.is(ring.timestamp.signers.length, 2);
    t.is(ring.targets.signers.length, 1);
    const err = await t.throwsAsync(
      initKeys(path.join(dir, 'other'), { thresholds: { root: 2 }, keyCounts: { root: 1 } }),
      { instanceOf: UpcatError },
    );
    t.is(err?.code, 'invalid_input');
  }));

test('listKeys and roles.json never carry private key material', (t) =>
  withDir(t, async (dir) => {
    const { keys } = await initKeys(dir);
    t.false(JSON.stringify(keys).includes('PRIVATE'));
    t.false((await readFile(path.join(dir, 'tuf', 'roles.json'), 'utf8')).includes('PRIVATE'));
    t.true((await readFile(keys[0]?.file ?? '', 'utf8')).includes('PRIVATE KEY'));
  }));

test('a rotation adds keys, then retiring the old ones leaves only the new', (t) =>
  withDir(t, async (dir) => {
    const { keys } = await initKeys(dir);
    const oldTimestamp = keys.filter((k) => k.role === 'timestamp').map((k) => k.keyid);
    const added = await addRoleKeys(dir, 'timestamp', 1);
    t.is((await loadKeyring(dir)).timestamp.signers.length, 2);
    await retireKeys(dir, oldTimestamp);
    const ring = await loadKeyring(dir);
    t.deepEqual(
      ring.timestamp.signers.map((s) => s.key.keyid),
      added.created.map((k) => k.keyid),
    );
    t.is((await listKeys(dir)).length, 4);
  }));

test('a key ring below its threshold is an invalid_config error', (t) =>
  withDir(t, async (dir) => {
    const { keys } = await initKeys(dir, { thresholds: { snapshot: 2 } });
    await retireKeys(dir, [keys.find((k) => k.role === 'snapshot')?.keyid ?? '']);
    const err = await t.throwsAsync(loadKeyring(dir), { instanceOf: UpcatError });
    t.is(err?.code, 'invalid_config');
    t.regex(err?.message ?? '', /snapshot has 1 keys for a threshold of 2/);
  }));

test('loading keys where none were created is a not_found error', async (t) => {
  const err = await t.throwsAsync(loadKeyring('/nonexistent/signing'), { instanceOf: UpcatError });
  t.is(err?.code, 'not_found');
});
