import { randomBytes, randomUUID } from 'node:crypto';
import test from 'ava';
import {
  AnchorSealer,
  ENTRY_BUDGET,
  holdingOf,
  policyDigest,
  type AnchorState,
} from '../../../src/sync/anchor.js';

const U1 = '6f1c2d3e-4b5a-4978-8796-a5b4c3d2e1f0';
const state = (over: Partial<AnchorState> = {}): AnchorState => ({
  clientId: 'c-1',
  catalogVersion: 3,
  epoch: 1,
  status: 'approved',
  entries: { [U1]: 'abcdef0123456789abcdef01' },
  issued: 1_000_000,
  ...over,
});
const DAY = 86_400_000;

/** A policy of n entries: update ID → 24-hex entry digest. */
function policyOf(n: number): Record<string, string> {
  return Object.fromEntries(
    Array.from({ length: n }, () => [randomUUID(), randomBytes(12).toString('hex')]),
  );
}

test('a sealed anchor opens for its client within its lifetime', (t) => {
  const s = new AnchorSealer(randomBytes(32), 7 * DAY);
  t.deepEqual(s.open(s.seal(state()), 'c-1', 1_000_000 + DAY), state());
  const empty = state({ entries: {} });
  t.deepEqual(s.open(s.seal(empty), 'c-1', 1_000_000 + DAY), empty);
});

test('tampered, foreign, other-client, expired, future and malformed anchors open to undefined', (t) => {
  const key = randomBytes(32);
  const s = new AnchorSealer(key, 7 * DAY);
  const text = s.seal(state());
  const at = 1_000_000 + DAY;
  for (let i = 3; i < text.length; i += 1) {
    const c = text[i] === 'A' ? 'B' : 'A';
    t.is(s.open(text.slice(0, i) + c + text.slice(i + 1), 'c-1', at), undefined, `byte ${i}`);
  }
  t.is(new AnchorSealer(randomBytes(32), 7 * DAY).open(text, 'c-1', at), undefined);
  t.is(s.open(text, 'c-2', at), undefined);
  t.is(s.open(text, 'c-1', 1_000_000 + 8 * DAY), undefined);
  t.is(s.open(s.seal(state({ issued: at + DAY })), 'c-1', at), undefined);
  for (const bad of [undefined, '', 'a2.', 'a2.!!!', 'a1.' + text.slice(3), text.slice(0, 20)])
    t.is(s.open(bad, 'c-1', at), undefined);
});

test('within the budget an anchor names each entry; beyond it, only the policy digest', (t) => {
  const s = new AnchorSealer(randomBytes(32), 7 * DAY);
  const small = policyOf(ENTRY_BUDGET);
  t.deepEqual(holdingOf(small), { entries: small });
  const big = policyOf(ENTRY_BUDGET + 1);
  t.deepEqual(holdingOf(big), { policy: policyDigest(big) });
  // Entry order does not matter to the digest; any changed entry does.
  const reversed = Object.fromEntries(Object.entries(big).reverse());
  t.is(policyDigest(reversed), policyDigest(big));
  const first = Object.keys(big)[0] ?? '';
  t.not(policyDigest({ ...big, [first]: '0'.repeat(24) }), policyDigest(big));
  // An ID that does not pack (not a lower-case GUID) holds the policy as a digest too.
  t.deepEqual(Object.keys(holdingOf({ [U1.toUpperCase()]: '0'.repeat(24) })), ['policy']);

  const sealedSmall = s.seal(state({ entries: small }));
  t.deepEqual(s.open(sealedSmall, 'c-1', 1_000_000)?.entries, small);
  for (const n of [ENTRY_BUDGET + 1, 500, 5_000]) {
    const sealed = s.seal(state({ entries: undefined, ...holdingOf(policyOf(n)) }));
    t.true(sealed.length < 300, `${n} entries: ${sealed.length} characters`);
    t.regex(s.open(sealed, 'c-1', 1_000_000)?.policy ?? '', /^[0-9a-f]{32}$/);
  }
  // The largest anchor (a full budget) stays far under URL and header limits.
  t.true(sealedSmall.length < 4_000, `${sealedSmall.length} characters`);
});

test('sealing entries that holdingOf would not name is a programming error', (t) => {
  const s = new AnchorSealer(randomBytes(32), 7 * DAY);
  t.throws(() => s.seal(state({ entries: policyOf(ENTRY_BUDGET + 1) })), { message: /holdingOf/ });
  t.throws(() => s.seal(state({ entries: { 'not-a-guid': '0'.repeat(24) } })));
});
