import type { AgentState } from './state.js';

/** The command-line flags that make up the identity the site knows this machine by. */
export interface IdentityFlags {
  hardwareId?: string;
  group?: string;
  name?: string;
}

const KEYS = ['hardwareId', 'group', 'name'] as const;

/**
 * The identity flags of this run (issue 13 item 4): a flag given now wins and is remembered in
 * the state; a flag left out takes the value remembered from an earlier run. A scheduled run
 * that forgets `--hardware-id` would otherwise register the machine again under the derived
 * ID, a second record the site has to hold as a duplicate or a conflict.
 */
export function rememberIdentityFlags<T extends IdentityFlags>(state: AgentState, given: T): T {
  const out: T = { ...given };
  for (const key of KEYS) {
    const now = given[key];
    if (now !== undefined) state.identity[key] = now;
    else if (state.identity[key] !== undefined) out[key] = state.identity[key];
  }
  return out;
}
