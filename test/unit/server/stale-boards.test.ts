import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { removeStaleBoards } from '../../../src/server/workers.js';

/** A pid that no process holds: one of a child that has exited (and been reaped). */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  return Number(child.stdout.toString());
}

test("a dead primary's change-board folder is removed; live ones and others' files are kept", (t) => {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'upcat-stale-test-'));
  const dead = `upcat-workers-${deadPid()}-AbC123`;
  const mine = `upcat-workers-${process.pid}-Xy9`;
  const parent = `upcat-workers-${process.ppid}-Qq1`; // alive: the test runner's parent
  const unrelated = 'upcat-workers-notapid-1';
  for (const d of [dead, mine, parent, unrelated]) {
    mkdirSync(path.join(tmp, d));
    writeFileSync(path.join(tmp, d, 'changes'), Buffer.alloc(16));
  }
  t.deepEqual(removeStaleBoards(tmp), [dead]);
  t.false(existsSync(path.join(tmp, dead)));
  for (const kept of [mine, parent, unrelated]) t.true(existsSync(path.join(tmp, kept)), kept);
});

test('a temporary directory that cannot be read is not an error', (t) => {
  t.deepEqual(removeStaleBoards(path.join(os.tmpdir(), 'upcat-no-such-dir-here')), []);
});
