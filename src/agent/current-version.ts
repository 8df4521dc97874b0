/**
 * Which agent version the state directory's `current` link names (self-upgrade.ts): apart from
 * the self-upgrade, whose handler and unzip modules `upcat agent status` need not load (issue 16).
 */
import { readlink } from 'node:fs/promises';
import path from 'node:path';

export const agentRoot = (stateDir: string): string => path.join(stateDir, 'agent');

export async function currentVersion(stateDir: string): Promise<string | undefined> {
  try {
    return path.basename(await readlink(path.join(agentRoot(stateDir), 'current')));
  } catch {
    return undefined;
  }
}
