import test, { type ExecutionContext } from 'ava';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Outbox } from '../../../src/agent/outbox.js';
import { queuedMessages, readState, stateAsParsed } from '../../../src/agent/state-check.js';
import { parseState, saveState } from '../../../src/agent/state.js';
import { mutate, random } from '../../helpers/mutate.js';

const DIR = '/state';

/** A state as the agent writes it: every field, in the schema's order, defaults filled. */
const written = parseState(
  {
    server: 'http://site',
    siteCode: 'UPC',
    clientId: 'c1',
    secret: 's',
    registration: { hardwareId: 'hw', clientVersion: '1.0', group: 'g', status: 'approved' },
    policyKey: { keyid: 'k', keytype: 'ed25519', scheme: 'ed25519', keyval: { public: 'p' } },
    anchor: 'a',
    policy: [
      {
        updateId: 'u1',
        revision: 2,
        action: 'install',
        deadline: null,
        files: [{ name: 'f.msi', sha256: 'x', sha1: 'y', size: 10 }],
        maintenanceWindows: [],
      },
      { updateId: 'u2', revision: 1, action: 'uninstall', deadline: '2026-12-31', files: [] },
    ],
    lastSync: '2026-12-04T00:00:00Z',
    lastError: 'none',
    installed: { u1: { revision: 2, product: 'P', version: '1', at: 't', rebootPending: true } },
    failures: {
      u3: { revision: 1, attempts: 2, retryAfter: 't', code: null, detail: 'd' },
      u4: { revision: 1, attempts: 1, retryAfter: 't', code: -5, detail: 'd' },
    },
    history: [{ time: 't', updateId: 'u1', revision: 2, state: 'installed', code: 0, detail: 'x' }],
    reported: { u1: '2:installed' },
    outcomes: { u1: { revision: 2, state: 'installed', at: 't', detail: 'ok' } },
    agentVersion: '0.1.0',
    nativeServer: 'https://site:8531',
    identity: { hardwareId: 'hw', group: 'g', name: 'n' },
  },
  DIR,
);

/** The schema's result, keys in its order; or the error it gives. */
function parsedText(raw: unknown): string {
  try {
    return JSON.stringify(parseState(raw, DIR));
  } catch (err) {
    return `error: ${(err as Error).message}`;
  }
}

test('a state as the agent writes it, and an absent one, are taken without the schema, equal', (t) => {
  for (const raw of [
    written,
    {},
    { installed: { u: { revision: 1, product: 'p', version: '1', at: 't' } } },
  ]) {
    const state = stateAsParsed(JSON.parse(JSON.stringify(raw)));
    t.not(state, undefined, JSON.stringify(raw));
    t.is(JSON.stringify(state), parsedText(raw));
  }
});

test('what the schema would refuse, drop or reorder is left to it', (t) => {
  const cases: unknown[] = [
    [],
    null,
    { unknown: 1 },
    { server: 5 },
    { policy: [{ ...written.policy[0], extra: 1 }] },
    { registration: { status: 'approved', hardwareId: 'hw', clientVersion: '1' } },
    {
      policy: [
        {
          ...written.policy[0],
          maintenanceWindows: [{ days: ['mon'], start: '01:00', duration: '1h', timezone: 'UTC' }],
        },
      ],
    },
    { failures: { u: { revision: 1, attempts: 1, retryAfter: 't', detail: 'd' } } },
    { identity: { name: 'n', group: 'g' } },
  ];
  for (const raw of cases) t.is(stateAsParsed(raw), undefined, JSON.stringify(raw));
});

test('on random changes to a written state, what the check takes is what the schema gives', (t) => {
  const next = random(6);
  let taken = 0;
  for (let i = 0; i < 3000; i++) {
    const raw = mutate(written, next);
    const state = stateAsParsed(raw);
    if (state === undefined) continue;
    taken++;
    t.is(JSON.stringify(state), parsedText(raw), JSON.stringify(raw));
  }
  t.true(taken > 300, `${taken} taken`);
});

async function stateDir(t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'upcat-state-check-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('readState gives what loadState gives, with or without the schema', async (t) => {
  const dir = await stateDir(t);
  t.is(JSON.stringify(await readState(dir)), parsedText({}));
  await saveState(dir, written);
  t.is(JSON.stringify(await readState(dir)), parsedText(written));
  // An older agent's file: no identity, an unknown field. The schema completes it.
  const older: Record<string, unknown> = { ...written };
  delete older['identity'];
  await writeFile(path.join(dir, 'state.json'), JSON.stringify({ ...older, retired: true }));
  t.is(JSON.stringify(await readState(dir)), parsedText({ ...older, retired: true }));
  await writeFile(path.join(dir, 'state.json'), JSON.stringify({ policy: 'none' }));
  await t.throwsAsync(readState(dir), { message: /invalid agent state .*policy/ });
});

test('queuedMessages counts as the outbox does', async (t) => {
  const dir = await stateDir(t);
  const count = async (): Promise<number> => {
    const outbox = new Outbox(dir);
    await outbox.load();
    return outbox.size;
  };
  t.is(await queuedMessages(dir), 0);
  const outbox = new Outbox(dir);
  await outbox.add({ topic: 'update', updateId: 'u', revision: 1, state: 'installed' });
  await outbox.add({ topic: 'client', state: 'registered', detail: 'd' });
  t.is(await queuedMessages(dir), 2);
  const file = path.join(dir, 'outbox.json');
  const message = { id: 'i', topic: 'client', state: 's' };
  for (const content of [
    [message, { ...message, extra: 1 }],
    [message, { ...message, topic: 'other' }],
    [{ ...message, revision: 1.5 }],
    { not: 'a list' },
    [message, null],
  ]) {
    await writeFile(file, JSON.stringify(content));
    t.is(await queuedMessages(dir), await count(), JSON.stringify(content));
  }
});
