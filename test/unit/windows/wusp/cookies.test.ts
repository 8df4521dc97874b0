import { randomBytes } from 'node:crypto';
import test from 'ava';
import {
  CookieError,
  CookieSealer,
  type CookieState,
} from '../../../../src/windows/wusp/cookies.js';

const key = randomBytes(32);
const state: CookieState = {
  serverId: '0f1e2d3c-4b5a-4978-8796-a5b4c3d2e1f0',
  susClientId: '5c7f4f80-3896-4d10-8a38-469286a0febc',
  expiresAt: Date.UTC(2030, 0, 1),
  lastChange: Date.UTC(2026, 11, 3, 11, 0, 0, 123),
  protocol: { major: 1, minor: 8 },
  anchor: { catalogVersion: 42, policyEpoch: 7 },
  targetGroup: 'Ring 1 — pilots',
};

test('a cookie opens to exactly what was sealed', (t) => {
  const sealer = new CookieSealer(key);
  t.deepEqual(sealer.openCookie(sealer.sealCookie(state)), state);
  const auth = {
    susClientId: state.susClientId,
    expiresAt: 5,
    targetGroup: '',
    dnsName: 'pc.example.test',
  };
  t.deepEqual(sealer.openAuthorization(sealer.sealAuthorization(auth)), auth);
});

test('every flipped bit, truncation or extension of a sealed cookie is refused', (t) => {
  const sealer = new CookieSealer(key);
  const blob = sealer.sealCookie(state);
  for (let i = 0; i < blob.length; i++) {
    for (const bit of [0x01, 0x80]) {
      const bad = Buffer.from(blob);
      bad[i] = (bad[i] as number) ^ bit;
      t.throws(() => sealer.openCookie(bad), { instanceOf: CookieError });
    }
  }
  t.throws(() => sealer.openCookie(blob.subarray(0, blob.length - 1)), { instanceOf: CookieError });
  t.throws(() => sealer.openCookie(Buffer.concat([blob, Buffer.from([0])])), {
    instanceOf: CookieError,
  });
  t.throws(() => sealer.openCookie(Buffer.alloc(0)), { instanceOf: CookieError });
  t.throws(() => sealer.openCookie(randomBytes(4096)), { instanceOf: CookieError });
});

test('a cookie of another key, or of the other kind, is refused', (t) => {
  const mine = new CookieSealer(key);
  const theirs = new CookieSealer(randomBytes(32));
  t.is(
    t.throws(() => mine.openCookie(theirs.sealCookie(state)), { instanceOf: CookieError })?.reason,
    'forged',
  );
  const auth = mine.sealAuthorization({
    susClientId: state.susClientId,
    expiresAt: 1,
    targetGroup: '',
    dnsName: 'x',
  });
  t.is(t.throws(() => mine.openCookie(auth), { instanceOf: CookieError })?.reason, 'malformed');
});

test('the layout is versioned: an unknown layout version is refused before decryption', (t) => {
  const sealer = new CookieSealer(key);
  const blob = sealer.sealCookie(state);
  blob[1] = 2;
  t.is(t.throws(() => sealer.openCookie(blob), { instanceOf: CookieError })?.reason, 'malformed');
});
