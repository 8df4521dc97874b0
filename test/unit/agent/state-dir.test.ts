import { chmod, mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import {
  checkNotWritableByOthers,
  ensurePrivateDir,
  writePrivateJson,
} from '../../../src/agent/state-dir.js';
import { loadState, saveState } from '../../../src/agent/state.js';

const mode = async (p: string): Promise<number> => (await stat(p)).mode & 0o777;

test('the state directory is created 0700 (or tightened) and its files are 0600', async (t) => {
  const base = await mkdtemp(path.join(os.tmpdir(), 'upcat-state-'));
  t.teardown(() => rm(base, { recursive: true, force: true }));
  const dir = path.join(base, 'deep', 'state');
  const state = await loadState(dir);
  t.is(await mode(dir), 0o700);
  state.clientId = 'c1';
  state.secret = 's3cret';
  await saveState(dir, state);
  t.is(await mode(path.join(dir, 'state.json')), 0o600);
  t.like(await loadState(dir), { clientId: 'c1', secret: 's3cret' });

  const loose = path.join(base, 'loose');
  await mkdir(loose, { mode: 0o777 });
  await chmod(loose, 0o777);
  await ensurePrivateDir(loose);
  t.is(await mode(loose), 0o700);
  await writePrivateJson(path.join(loose, 'x.json'), { a: 1 });
  t.is(await mode(path.join(loose, 'x.json')), 0o600);
});

test('installers never run from a place others can write', async (t) => {
  const base = await mkdtemp(path.join(os.tmpdir(), 'upcat-state-'));
  t.teardown(() => rm(base, { recursive: true, force: true }));
  await ensurePrivateDir(path.join(base, 'work'));
  const program = path.join(base, 'work', 'setup.sh');
  await writeFile(program, '#!/bin/sh\n', { mode: 0o700 });
  await t.notThrowsAsync(checkNotWritableByOthers(program, base));
  await chmod(program, 0o722);
  await t.throwsAsync(checkNotWritableByOthers(program, base), {
    message: /writable by group or others/,
  });
  await chmod(program, 0o700);
  await chmod(path.join(base, 'work'), 0o777);
  await t.throwsAsync(checkNotWritableByOthers(program, base), { message: /work is writable/ });
});

test('a corrupt state file is an error naming it, not a silent reset', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'upcat-state-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(path.join(dir, 'state.json'), '{"installed": 3}');
  await t.throwsAsync(loadState(dir), { message: /state\.json.*installed/ });
});
