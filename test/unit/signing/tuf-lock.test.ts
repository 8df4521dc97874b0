import { spawnSync } from 'node:child_process';
import { mkdtemp, readdir, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { withRepoLock } from '../../../src/signing/tuf-lock.js';

const tempDir = (): Promise<string> => mkdtemp(path.join(os.tmpdir(), 'upcat-lock-'));

test('a lock left by a process that died is taken over', async (t) => {
  const dir = await tempDir();
  const dead = spawnSync(process.execPath, ['-e', '0']).pid;
  await writeFile(path.join(dir, '.lock'), JSON.stringify({ pid: dead, host: os.hostname() }));
  t.is(await withRepoLock(dir, async () => 'ran', 2_000), 'ran');
  t.deepEqual(await readdir(dir), [], 'the lock and the owner record are gone');
});

test('an unreadable lock file (a writer killed mid-write) is taken over once it is old', async (t) => {
  const dir = await tempDir();
  const file = path.join(dir, '.lock');
  await writeFile(file, '');
  const old = new Date(Date.now() - 60_000);
  await utimes(file, old, old);
  t.is(await withRepoLock(dir, async () => 'ran', 2_000), 'ran');
});

test('a live owner keeps the lock until the timeout', async (t) => {
  const dir = await tempDir();
  await writeFile(
    path.join(dir, '.lock'),
    JSON.stringify({ pid: process.pid, host: os.hostname() }),
  );
  await t.throwsAsync(() => withRepoLock(dir, async () => 'ran', 200), {
    message: /locked by another writer/,
  });
  t.deepEqual((await readdir(dir)).sort(), ['.lock'], 'no owner record is left behind');
});
