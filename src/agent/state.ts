import { z } from 'zod';
import { parseWith } from '../validation.js';
import { zonedWindowSchema } from '../site/maintenance-window.js';
import { stateFile } from './state-check.js';
import { ensurePrivateDir, readJsonFile, writePrivateJson } from './state-dir.js';

export { stateFile };

const policyFile = z.object({
  name: z.string(),
  sha256: z.string(),
  sha1: z.string(),
  size: z.number(),
});

/** One deployment of the verified policy, as the agent keeps it between syncs. */
export const policyEntrySchema = z.object({
  updateId: z.string(),
  revision: z.number().int(),
  action: z.enum(['install', 'uninstall', 'optional']),
  deadline: z.string().nullable(),
  files: z.array(policyFile),
  /**
   * Install entries of a client whose groups have maintenance windows (issue 14 item 6). Agents
   * before this field strip it (this schema is not strict) and install at once, as before.
   */
  maintenanceWindows: z.array(zonedWindowSchema).max(256).optional(),
});
export type AgentPolicyEntry = z.infer<typeof policyEntrySchema>;

const installedSchema = z.object({
  revision: z.number().int(),
  product: z.string(),
  version: z.string(),
  at: z.string(),
  rebootPending: z.boolean().default(false),
});

const failureSchema = z.object({
  revision: z.number().int(),
  attempts: z.number().int(),
  /** ISO time before which the agent does not try again (exponential backoff). */
  retryAfter: z.string(),
  code: z.number().int().nullable(),
  detail: z.string(),
});

/**
 * The final state of an update's revision on this machine (`installed`, `already_installed`,
 * `not_applicable`, `uninstalled`, `failed`), for `upcat agent status`: what is neither final
 * nor failed is pending.
 */
const outcomeSchema = z.object({
  revision: z.number().int(),
  state: z.string(),
  at: z.string(),
  detail: z.string().optional(),
});

const historySchema = z.object({
  time: z.string(),
  updateId: z.string().optional(),
  revision: z.number().int().optional(),
  state: z.string(),
  code: z.number().int().optional(),
  detail: z.string().optional(),
});

/** What the agent keeps in `<state>/state.json` (issue 6 item 1). */
export const agentStateSchema = z.object({
  server: z.string().optional(),
  siteCode: z.string().optional(),
  clientId: z.string().optional(),
  /** The bearer secret the site issued; the file is 0600 in a 0700 directory. */
  secret: z.string().optional(),
  registration: z
    .object({
      hardwareId: z.string(),
      clientVersion: z.string(),
      group: z.string().optional(),
      status: z.string(),
      /** Native mode: SHA-256 of the certificate request sent (a new key means a new request). */
      csrDigest: z.string().optional(),
    })
    .optional(),
  /** The policy key first seen (trust on first use unless provisioned). */
  policyKey: z
    .object({
      keyid: z.string(),
      keytype: z.string(),
      scheme: z.string(),
      keyval: z.object({ public: z.string() }),
    })
    .optional(),
  anchor: z.string().optional(),
  policy: z.array(policyEntrySchema).default([]),
  lastSync: z.string().optional(),
  lastError: z.string().optional(),
  installed: z.record(z.string(), installedSchema).default({}),
  failures: z.record(z.string(), failureSchema).default({}),
  history: z.array(historySchema).default([]),
  /** The final state last reported per update (`<revision>:<state>`), so it is sent once. */
  reported: z.record(z.string(), z.string()).default({}),
  /** The final state per update, with its reason (not applicable: why). */
  outcomes: z.record(z.string(), outcomeSchema).default({}),
  /** The version of the agent that ran the last cycle (self-upgrade, item 6). */
  agentVersion: z.string().optional(),
  /**
   * Native mode: the site's HTTPS (mutual TLS) base URL learned at first contact, where later
   * cycles start so that nothing (the secret included) goes over plain HTTP again.
   */
  nativeServer: z.string().optional(),
  /**
   * The identity flags (--hardware-id, --group, --name) as first given and last changed: a later
   * run that forgets one keeps the machine's identity instead of registering a new one
   * (identity-flags.ts).
   */
  identity: z
    .object({
      hardwareId: z.string().optional(),
      group: z.string().optional(),
      name: z.string().optional(),
    })
    .default({}),
});
export type AgentState = z.infer<typeof agentStateSchema>;
export type HistoryEntry = z.infer<typeof historySchema>;
export type Outcome = z.infer<typeof outcomeSchema>;

const HISTORY_LIMIT = 500;

export async function loadState(dir: string): Promise<AgentState> {
  await ensurePrivateDir(dir);
  return parseState((await readJsonFile(stateFile(dir))) ?? {}, dir);
}

/** The state file's content (`{}` when there is none) checked and completed by the schema. */
export function parseState(raw: unknown, dir: string): AgentState {
  return parseWith(agentStateSchema, raw, `agent state ${stateFile(dir)}`, 'invalid_config');
}

export async function saveState(dir: string, state: AgentState): Promise<void> {
  if (state.history.length > HISTORY_LIMIT) state.history = state.history.slice(-HISTORY_LIMIT);
  await writePrivateJson(stateFile(dir), state);
}
