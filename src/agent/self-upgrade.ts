import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rename, rm, symlink } from 'node:fs/promises';
import path from 'node:path';
import { compareVersions } from '../rules/version.js';
import { agentRoot, currentVersion } from './current-version.js';
import { isFile } from './handler.js';
import { checkNotWritableByOthers, ensurePrivateDir } from './state-dir.js';

/**
 * Self-upgrade (issue 6 item 6; docs/AGENT.md). The agent's own builds are published as product
 * `upcat-agent`. Such an update is unpacked into `<state>/agent/<version>/` (kept, not a
 * throw-away work directory), its command-line handler runs there like any other, and on success
 * `<state>/agent/current` is switched to it atomically (a new symlink renamed over the old one).
 * When `upcat agent` starts, and in service mode (`--interval`) after every cycle, and `current`
 * names a newer version than itself, it runs that version's entry point `bin/upcat-agent` with
 * the same arguments instead, so the next cycle runs, and reports, the new version. The child
 * is told which version it was started as (`UPCAT_AGENT_HANDED_OVER=<version>`) and never hands
 * over to that version or an older one: a build whose entry point runs an older agent cannot
 * loop, while a later upgrade (Y to Z) still hands over.
 */
export const AGENT_PRODUCT = 'upcat-agent';
export const ENTRY_POINT = path.join('bin', 'upcat-agent');
export const HANDED_OVER_ENV = 'UPCAT_AGENT_HANDED_OVER';

export { agentRoot, currentVersion };
export const agentVersionDir = (stateDir: string, version: string): string =>
  path.join(agentRoot(stateDir), version);

export async function prepareVersionDir(stateDir: string, version: string): Promise<string> {
  await ensurePrivateDir(agentRoot(stateDir));
  const dir = agentVersionDir(stateDir, version);
  await rm(dir, { recursive: true, force: true }); // a half-installed earlier attempt
  await ensurePrivateDir(dir);
  return dir;
}

export async function switchCurrent(stateDir: string, version: string): Promise<void> {
  const root = agentRoot(stateDir);
  const tmp = path.join(root, `.current.${randomBytes(6).toString('hex')}`);
  await symlink(version, tmp);
  await rename(tmp, path.join(root, 'current'));
}

/** The entry point to hand over to, when `current` is newer than the running version. */
export async function newerEntryPoint(
  stateDir: string,
  running: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ version: string; entry: string } | undefined> {
  const version = await currentVersion(stateDir);
  if (version === undefined) return undefined;
  const order = compareVersions(version, running);
  if (order === undefined || order <= 0) return undefined;
  const marker = env[HANDED_OVER_ENV];
  if (marker !== undefined) {
    // Started by a hand-over: only to a version past the one we were started as.
    const past = compareVersions(version, marker);
    if (past === undefined || past <= 0) return undefined;
  }
  const entry = path.join(agentVersionDir(stateDir, version), ENTRY_POINT);
  if (!(await isFile(entry))) return undefined;
  await checkNotWritableByOthers(entry, stateDir);
  return { version, entry };
}

/**
 * Runs the newer agent with our arguments; resolves with its exit code. Node cannot replace its
 * own process image, so this one stays as a thin parent: SIGTERM and SIGINT are passed on (a
 * service manager that stops the parent stops the agent), and the child's code is ours.
 */
export function handOver(entry: string, version: string, args: readonly string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(entry, args, {
      stdio: 'inherit',
      env: { ...process.env, [HANDED_OVER_ENV]: version },
    });
    const forward = (signal: NodeJS.Signals): void => {
      child.kill(signal);
    };
    const signals: NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP'];
    for (const s of signals) process.on(s, forward);
    const done = (): void => {
      for (const s of signals) process.off(s, forward);
    };
    child.on('error', (err) => {
      done();
      reject(err);
    });
    child.on('close', (code, signal) => {
      done();
      resolve(code ?? (signal === 'SIGTERM' || signal === 'SIGINT' ? 0 : 1));
    });
  });
}
