import test from 'ava';
import { TargetFile } from 'tuf-js';
import { checkAgreement } from '../../../src/agent/agreement.js';
import type { AgentPolicyEntry } from '../../../src/agent/state.js';

/**
 * The director/image check (docs/AGENT.md, "Trust"): the signed policy and the TUF targets must
 * agree on the revision and on every payload's SHA-256 and length, before anything is downloaded.
 */
const UPDATE = '6f1e2d3c-4b5a-4978-8796-a5b4c3d2e1f0';
const SHA = 'a'.repeat(64);
const OTHER = 'b'.repeat(64);

const entry = (over: Partial<AgentPolicyEntry['files'][number]> = {}): AgentPolicyEntry => ({
  updateId: UPDATE,
  revision: 2,
  action: 'install',
  deadline: null,
  files: [{ name: 'setup.zip', sha256: SHA, sha1: 'c'.repeat(40), size: 1000, ...over }],
});

const doc = (over: { size?: number; sha256?: string; revisionNumber?: number } = {}) => ({
  updateId: UPDATE.toUpperCase(),
  revisionNumber: over.revisionNumber ?? 2,
  files: [
    {
      name: 'setup.zip',
      sha256: over.sha256 ?? SHA,
      sha1: 'c'.repeat(40),
      size: over.size ?? 1000,
      kind: 'package' as const,
    },
  ],
});

/** The TUF side: the signed targets, as tuf-js answers them; records what was asked. */
function catalog(targets: Record<string, { length: number; sha256: string }>) {
  const asked: string[] = [];
  const updater = {
    getTargetInfo: (name: string): Promise<TargetFile | undefined> => {
      asked.push(name);
      const t = targets[name];
      return Promise.resolve(
        t === undefined
          ? undefined
          : new TargetFile({ path: name, length: t.length, hashes: { sha256: t.sha256 } }),
      );
    },
  };
  return { asked, updater };
}

test('policy, document and signed target agree: accepted', async (t) => {
  const c = catalog({ [`payloads/${SHA}`]: { length: 1000, sha256: SHA } });
  await t.notThrowsAsync(checkAgreement(c.updater, entry(), doc()));
  t.deepEqual(c.asked, [`payloads/${SHA}`]);
});

test('a signed target of another length is refused', async (t) => {
  const c = catalog({ [`payloads/${SHA}`]: { length: 999, sha256: SHA } });
  const err = await t.throwsAsync(checkAgreement(c.updater, entry(), doc()));
  t.is((err as { code?: string }).code, 'integrity');
  t.is(
    err?.message,
    `update ${UPDATE}: policy and signed catalog disagree: payload ${SHA}: policy says 1000 bytes, the signed target 999`,
  );
});

test('a signed target with another SHA-256 is refused', async (t) => {
  const c = catalog({ [`payloads/${SHA}`]: { length: 1000, sha256: OTHER } });
  await t.throwsAsync(checkAgreement(c.updater, entry(), doc()), {
    message: `update ${UPDATE}: policy and signed catalog disagree: payload ${SHA}: the signed target states another SHA-256`,
  });
});

test('a policy naming a payload the catalog did not sign, or another size, is refused', async (t) => {
  const c = catalog({ [`payloads/${SHA}`]: { length: 1000, sha256: SHA } });
  await t.throwsAsync(checkAgreement(c.updater, entry({ sha256: OTHER }), doc()), {
    message: new RegExp(`payload ${OTHER} is not in the document$`),
  });
  await t.throwsAsync(checkAgreement(c.updater, entry({ size: 1001 }), doc()), {
    message: new RegExp(`payload ${SHA}: policy says 1001 bytes, the document 1000$`),
  });
  await t.throwsAsync(checkAgreement(c.updater, entry(), doc({ revisionNumber: 3 })), {
    message: /policy says revision 2, the catalog has 3$/,
  });
  // The document and policy agree, but no payload target was signed at all.
  await t.throwsAsync(checkAgreement(catalog({}).updater, entry(), doc()), {
    message: new RegExp(`payload ${SHA} is not a signed target$`),
  });
  t.deepEqual(c.asked, [], 'a disagreement with the document is found before TUF is asked');
});
