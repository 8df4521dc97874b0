/**
 * What `upcat agent status` reads of the state directory, without zod when the files are as the
 * agent writes them (issue 16: zod is ~90 ms of CPU at every start). A state file the agent wrote
 * holds every field of state.ts's schema with its default filled, no unknown field, and keys in
 * the schema's order, so the zod-free check below (see shape-check.ts) takes it as it is; any
 * other file (one an older agent wrote, a damaged one) is parsed by the schema itself, which
 * fills, drops or refuses as before.
 */
import path from 'node:path';
import {
  acceptedObject,
  arrayOf,
  isBoolean,
  isInt,
  isNumber,
  isPlain,
  isString,
  nullable,
  object,
  oneOf,
  record,
  type Check,
} from '../shape-check.js';
import type { AgentState } from './state.js';
import { ensurePrivateDir, readJsonFile } from './state-dir.js';

const isPolicyEntry = object(
  {
    updateId: isString,
    revision: isInt,
    action: oneOf(['install', 'uninstall', 'optional']),
    deadline: nullable(isString),
    files: arrayOf(
      object({ name: isString, sha256: isString, sha1: isString, size: isNumber }, [
        'name',
        'sha256',
        'sha1',
        'size',
      ]),
    ),
    // Windows are checked by the schema (their rules live beside it): only an empty list here.
    maintenanceWindows: (v) => Array.isArray(v) && v.length === 0,
  },
  ['updateId', 'revision', 'action', 'deadline', 'files'],
);

const isInstalled = object(
  { revision: isInt, product: isString, version: isString, at: isString, rebootPending: isBoolean },
  ['revision', 'product', 'version', 'at'],
);

/** The schema's fields in its order; a default where the schema has one. */
const FIELDS: ReadonlyArray<readonly [string, Check, (() => unknown)?]> = [
  ['server', isString],
  ['siteCode', isString],
  ['clientId', isString],
  ['secret', isString],
  [
    'registration',
    object(
      {
        hardwareId: isString,
        clientVersion: isString,
        group: isString,
        status: isString,
        csrDigest: isString,
      },
      ['hardwareId', 'clientVersion', 'status'],
    ),
  ],
  [
    'policyKey',
    object(
      {
        keyid: isString,
        keytype: isString,
        scheme: isString,
        keyval: object({ public: isString }, ['public']),
      },
      ['keyid', 'keytype', 'scheme', 'keyval'],
    ),
  ],
  ['anchor', isString],
  ['policy', arrayOf(isPolicyEntry), () => []],
  ['lastSync', isString],
  ['lastError', isString],
  ['installed', record(isInstalled, false), () => ({})],
  [
    'failures',
    record(
      object(
        {
          revision: isInt,
          attempts: isInt,
          retryAfter: isString,
          code: nullable(isInt),
          detail: isString,
        },
        ['revision', 'attempts', 'retryAfter', 'code', 'detail'],
      ),
      false,
    ),
    () => ({}),
  ],
  [
    'history',
    arrayOf(
      object(
        {
          time: isString,
          updateId: isString,
          revision: isInt,
          state: isString,
          code: isInt,
          detail: isString,
        },
        ['time', 'state'],
      ),
    ),
    () => [],
  ],
  ['reported', record(isString, false), () => ({})],
  [
    'outcomes',
    record(
      object({ revision: isInt, state: isString, at: isString, detail: isString }, [
        'revision',
        'state',
        'at',
      ]),
      false,
    ),
    () => ({}),
  ],
  ['agentVersion', isString],
  ['nativeServer', isString],
  ['identity', object({ hardwareId: isString, group: isString, name: isString }), () => ({})],
];
const NAMES = new Set(FIELDS.map(([name]) => name));

/**
 * The state the schema would give for `raw`, built here when that is certain: the fields in the
 * schema's order, defaults filled (an installed entry's `rebootPending` too); else undefined.
 */
export function stateAsParsed(raw: unknown): AgentState | undefined {
  if (!isPlain(raw) || Object.keys(raw).some((key) => !NAMES.has(key))) return undefined;
  const state: Record<string, unknown> = {};
  for (const [name, check, fallback] of FIELDS) {
    if (Object.hasOwn(raw, name)) {
      if (!check(raw[name])) return undefined;
      state[name] = raw[name];
    } else if (fallback !== undefined) {
      state[name] = fallback();
    }
  }
  const installed = state['installed'] as Record<string, Record<string, unknown>>;
  for (const [id, entry] of Object.entries(installed)) {
    if (!Object.hasOwn(entry, 'rebootPending')) installed[id] = { ...entry, rebootPending: false };
  }
  return state as AgentState;
}

export const stateFile = (dir: string): string => path.join(dir, 'state.json');

/** `loadState` of state.ts, which is loaded (with zod) only when the check above says no. */
export async function readState(dir: string): Promise<AgentState> {
  await ensurePrivateDir(dir);
  const raw = (await readJsonFile(stateFile(dir))) ?? {};
  return stateAsParsed(raw) ?? (await import('./state.js')).parseState(raw, dir);
}

/** Whether the outbox's schema accepts a queued message (it drops unknown fields, not refuses). */
const isMessage = acceptedObject(
  {
    id: isString,
    topic: oneOf(['update', 'client']),
    updateId: isString,
    revision: isInt,
    state: isString,
    code: isInt,
    detail: isString,
    time: isString,
  },
  ['id', 'topic', 'state'],
);

/** How many state messages the outbox holds, as `Outbox.load` then `size` count them. */
export async function queuedMessages(dir: string): Promise<number> {
  const raw = (await readJsonFile(path.join(dir, 'outbox.json'))) ?? [];
  if (arrayOf(isMessage)(raw)) return (raw as unknown[]).length;
  const { Outbox } = await import('./outbox.js');
  const outbox = new Outbox(dir);
  await outbox.load();
  return outbox.size;
}
