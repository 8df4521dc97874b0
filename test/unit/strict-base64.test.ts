import { randomBytes } from 'node:crypto';
import test from 'ava';
import { decodeBase64Strict } from '../../src/strict-base64.js';

test('canonical base64 and base64url decode to their bytes', (t) => {
  for (let n = 0; n < 40; n++) {
    const b = randomBytes(n);
    t.deepEqual(decodeBase64Strict(b.toString('base64'), 'base64'), b);
    t.deepEqual(decodeBase64Strict(b.toString('base64url'), 'base64url'), b);
  }
});

test('unused low bits, foreign characters, missing or extra padding are refused', (t) => {
  // 'QQ==' is 'A'; 'QR==' decodes to the same byte through Node's decoder but is not canonical.
  t.deepEqual(Buffer.from('QR==', 'base64'), Buffer.from('A'));
  t.is(decodeBase64Strict('QR==', 'base64'), undefined);
  t.is(decodeBase64Strict('QQ', 'base64'), undefined);
  t.is(decodeBase64Strict('QQ==', 'base64url'), undefined);
  t.is(decodeBase64Strict('Q!Q==', 'base64'), undefined);
  t.is(decodeBase64Strict(' QQ==', 'base64'), undefined);
  t.is(decodeBase64Strict('QR', 'base64url'), undefined);
  t.deepEqual(decodeBase64Strict('QQ', 'base64url'), Buffer.from('A'));
});
