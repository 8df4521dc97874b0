import { chmod, lstat, mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { errnoCode, UpcatError } from '../errors.js';
import { writeFileAtomic } from '../signing/files.js';

/**
 * The agent's state directory: mode 0700, every file 0600 (issue 6 item 1). It holds the client
 * secret, the trusted TUF metadata and the downloads that installers run from, so nobody but the
 * service user may read or change it (docs/AGENT.md, "Security").
 */
export const DIR_MODE = 0o700;
export const FILE_MODE = 0o600;

/** Creates `dir` (and parents) 0700, or tightens an existing one we own; refuses otherwise. */
export async function ensurePrivateDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: DIR_MODE });
  const st = await lstat(dir);
  if (!st.isDirectory()) throw new UpcatError('invalid_config', `${dir} is not a directory`);
  if (typeof process.getuid === 'function' && st.uid !== process.getuid()) {
    throw new UpcatError(
      'invalid_config',
      `${dir} is owned by uid ${st.uid}, not by the agent's user (${process.getuid()}): refusing to keep state there`,
    );
  }
  if ((st.mode & 0o777) !== DIR_MODE) await chmod(dir, DIR_MODE);
}

/**
 * Refuses a path that an unprivileged user other than us could write: not owned by us, or
 * group/other writable, for the path itself and each directory up to `root` (the state dir).
 * Installers never run from such a place (issue 6 item 5).
 */
export async function checkNotWritableByOthers(target: string, root: string): Promise<void> {
  const stop = path.resolve(root);
  let at = path.resolve(target);
  for (;;) {
    const st = await lstat(at);
    if (st.isSymbolicLink())
      throw new UpcatError(
        'integrity',
        `${at} is a symbolic link: refusing to run an installer from it`,
      );
    if (typeof process.getuid === 'function' && st.uid !== process.getuid()) {
      throw new UpcatError(
        'integrity',
        `${at} is owned by uid ${st.uid}, not by the agent's user: refusing to run an installer from it`,
      );
    }
    if ((st.mode & 0o022) !== 0) {
      throw new UpcatError(
        'integrity',
        `${at} is writable by group or others (mode ${(st.mode & 0o777).toString(8)}): refusing to run an installer from it`,
      );
    }
    if (at === stop || path.dirname(at) === at || !at.startsWith(stop)) return;
    at = path.dirname(at);
  }
}

/** Writes a file 0600 through a temporary name and a rename: readers see old or new, never part. */
export async function writePrivateFile(file: string, data: string | Uint8Array): Promise<void> {
  await writeFileAtomic(file, data, { mode: FILE_MODE });
}

export async function writePrivateJson(file: string, value: unknown): Promise<void> {
  await writePrivateFile(file, `${JSON.stringify(value, null, 2)}\n`);
}

/** Reads a JSON file, or undefined when it does not exist. */
export async function readJsonFile(file: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw err;
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new UpcatError('invalid_config', `${file} is not valid JSON: ${(err as Error).message}`);
  }
}
