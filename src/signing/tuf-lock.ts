import { randomBytes } from 'node:crypto';
import { link, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { UpcatError, errnoCode } from '../errors.js';
import { processAlive } from '../process-alive.js';

const LOCK_NAME = '.lock';
/** A lock older than this whose owner cannot be checked (another host) is taken over. */
const STALE_MS = 10 * 60 * 1000;
/** An unreadable lock file (from before locks were written atomically) older than this is stale. */
const UNREADABLE_STALE_MS = 5_000;

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
  // The owner record is written to a private file first and then linked into place: link() fails
  // if the lock exists, and a lock never exists without its owner (a writer killed between
  // creating and filling the file would otherwise leave a lock nobody could judge stale).
  const mine = path.join(dir, `${LOCK_NAME}.${process.pid}.${randomBytes(4).toString('hex')}`);
  await writeFile(mine, JSON.stringify({ pid: process.pid, host: os.hostname() }));
  for (;;) {
    try {
      await link(mine, file);
      await rm(mine, { force: true });
      break;
    } catch (err) {
      if (errnoCode(err) !== 'EEXIST') {
        await rm(mine, { force: true });
        throw err;
      }
      if (await isStale(file)) {
        await rm(file, { force: true });
        continue;
      }
      if (Date.now() > deadline) {
        await rm(mine, { force: true });
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
  let text: string;
  let age: number;
  try {
    text = await readFile(file, 'utf8');
    age = Date.now() - (await stat(file)).mtimeMs;
  } catch {
    return false; // released meanwhile
  }
  let owner: { pid?: unknown; host?: unknown };
  try {
    owner = JSON.parse(text) as { pid?: unknown; host?: unknown };
  } catch {
    return age > UNREADABLE_STALE_MS;
  }
  if (owner.host === os.hostname() && typeof owner.pid === 'number') {
    return !processAlive(owner.pid);
  }
  return age > STALE_MS;
}
