import { mkdir, open, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { UpcatError, errnoCode } from '../errors.js';

const LOCK_NAME = '.lock';
/** A lock older than this whose owner cannot be checked (another host) is taken over. */
const STALE_MS = 10 * 60 * 1000;

/**
 * Runs `fn` holding the repository's lock file. Two writers (a publish and the refresh timer, or
 * two `upcat serve` nodes on one shared directory) must not both write version N+1 with different
 * bytes: a client holding one would reject the other as a mix-and-match.
 */
export async function withRepoLock<T>(
  dir: string,
  fn: () => Promise<T>,
  timeoutMs = 30_000,
): Promise<T> {
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, LOCK_NAME);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const handle = await open(file, 'wx');
      await handle.writeFile(JSON.stringify({ pid: process.pid, host: os.hostname() }));
      await handle.close();
      break;
    } catch (err) {
      if (errnoCode(err) !== 'EEXIST') throw err;
      if (await isStale(file)) {
        await rm(file, { force: true });
        continue;
      }
      if (Date.now() > deadline) {
        throw new UpcatError('conflict', `the TUF repository ${dir} is locked by another writer`);
      }
      await sleep(25);
    }
  }
  try {
    return await fn();
  } finally {
    await rm(file, { force: true });
  }
}

async function isStale(file: string): Promise<boolean> {
  try {
    const owner = JSON.parse(await readFile(file, 'utf8')) as { pid?: unknown; host?: unknown };
    if (owner.host === os.hostname() && typeof owner.pid === 'number') {
      return !processAlive(owner.pid);
    }
    return Date.now() - (await stat(file)).mtimeMs > STALE_MS;
  } catch {
    // Vanished (released meanwhile) or half-written by an owner that is writing it right now.
    return false;
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errnoCode(err) === 'EPERM';
  }
}
