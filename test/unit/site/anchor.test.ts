import { createCipheriv, randomBytes, randomUUID } from 'node:crypto';
import test from 'ava';
import { z } from 'zod';
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

/**
 * The zod schema anchors were checked with before issue 16 (anchor.ts now checks the opened JSON
 * by hand, on every sync): kept here as the reference the hand-written check must agree with.
 */
const referenceSchema = z
  .object({
    clientId: z.string().max(64),
    catalogVersion: z.number().int().min(0),
    epoch: z.number().int().min(0),
    status: z.string().max(16),
    entries: z
      .string()
      .max(Math.ceil((ENTRY_BUDGET * 28 * 4) / 3))
      .regex(/^[A-Za-z0-9_-]*$/)
      .optional(),
    policy: z
      .string()
      .regex(/^[0-9a-f]{32}$/)
      .optional(),
    issued: z.number().int().min(0),
  })
  .strict()
  .refine((a) => (a.entries === undefined) !== (a.policy === undefined));

/** Seals any JSON text as anchor.ts does (AES-256-GCM, its AAD and prefix): what open() reads. */
function sealRaw(key: Buffer, plain: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from('upcat-sync-anchor-v2'));
  const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
  return `a2.${Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64url')}`;
}

test('the hand-written shape check opens exactly what the zod schema it replaced accepted', (t) => {
  const key = randomBytes(32);
  const s = new AnchorSealer(key, 7 * DAY);
  const at = 1_000_000 + DAY;
  const packed64 = randomBytes(64 * 28).toString('base64url');
  const base: Record<string, unknown> = {
    clientId: 'c-1',
    catalogVersion: 3,
    epoch: 1,
    status: 'approved',
    entries: randomBytes(28).toString('base64url'),
    issued: 1_000_000,
  };
  const byDigest = { ...base, entries: undefined, policy: 'ab'.repeat(16) };
  const variants: unknown[] = [base, byDigest, null, [], 3, 'anchor', [base]];
  const values: unknown[] = [
    undefined,
    null,
    true,
    0,
    1,
    -1,
    1.5,
    2 ** 53,
    2 ** 53 - 1,
    1e300,
    '',
    '3',
    'x'.repeat(16),
    'x'.repeat(17),
    'x'.repeat(64),
    'x'.repeat(65),
    [],
    {},
    packed64,
    `${packed64}A`,
    'AB+/',
    'AB=',
    'ab'.repeat(16),
    'AB'.repeat(16),
    'ab'.repeat(15),
    `${'ab'.repeat(16)}0`,
  ];
  for (const from of [base, byDigest])
    for (const field of [...Object.keys(base), 'policy', 'extra'])
      for (const value of values) variants.push({ ...from, [field]: value });
  variants.push({ ...base, policy: 'ab'.repeat(16) }, { ...byDigest, policy: undefined });
  let accepted = 0;
  for (const v of variants) {
    const plain = JSON.stringify(v);
    const expected = referenceSchema.safeParse(JSON.parse(plain)).success;
    // What open() adds beyond the shape: the client, the lifetime, and entries that unpack.
    const parsed: unknown = JSON.parse(plain);
    const o = (typeof parsed === 'object' && parsed !== null ? parsed : {}) as Record<
      string,
      unknown
    >;
    const packed = o['entries'];
    const raw = typeof packed === 'string' ? Buffer.from(packed, 'base64url') : undefined;
    const unpacks =
      raw === undefined || (raw.toString('base64url') === packed && raw.length % 28 === 0);
    const issued = o['issued'];
    const beyond =
      o['clientId'] === 'c-1' && typeof issued === 'number' && s.fresh(issued, at) && unpacks;
    const opened = s.open(sealRaw(key, plain), 'c-1', at) !== undefined;
    t.is(opened, expected && beyond, plain);
    if (opened) accepted++;
  }
  t.true(accepted > 20, `accepted ${accepted}`);
});
