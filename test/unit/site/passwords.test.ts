import test from 'ava';
import {
  PASSWORD_MIN,
  checkPassword,
  hashPassword,
  verifyPassword,
} from '../../../src/site/passwords.js';

test('passwords: a known password verifies, a wrong one does not', async (t) => {
  const stored = await hashPassword('correct horse battery');
  t.true(await verifyPassword('correct horse battery', stored));
  t.false(await verifyPassword('correct horse batterY', stored));
  t.false(await verifyPassword('', stored));
});

test('passwords: the stored string is self-describing scrypt and holds no password', async (t) => {
  const password = 'correct horse battery';
  const stored = await hashPassword(password);
  t.regex(stored, /^\$scrypt\$ln=15,r=8,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{86}$/);
  t.false(stored.includes(password));
  t.false(stored.includes(Buffer.from(password).toString('base64').slice(0, 12)));
  // A fresh salt each time: the same password never gives the same string.
  t.not(await hashPassword(password), stored);
});

test('passwords: the cost is read from the string (a cheaper old hash still verifies)', async (t) => {
  const cheap = await hashPassword('another password', { ln: 10, r: 8, p: 1 });
  t.true(cheap.startsWith('$scrypt$ln=10,r=8,p=1$'));
  t.true(await verifyPassword('another password', cheap));
});

test('passwords: stored strings that are not ours, or out of bounds, never verify', async (t) => {
  const stored = await hashPassword('correct horse battery');
  for (const bad of [
    '',
    'plain',
    stored.replace('ln=15', 'ln=30'), // a cost that would exhaust memory
    stored.replace('ln=15', 'ln=5'),
    stored.slice(0, -1),
    stored.replace('$scrypt$', '$argon2id$'),
  ])
    t.false(await verifyPassword('correct horse battery', bad), bad);
});

test('passwords: composed and decomposed forms of one password are one password', async (t) => {
  const stored = await hashPassword('caf\u00e9 au lait please');
  t.true(await verifyPassword('cafe\u0301 au lait please', stored));
});

test('passwords: policy: minimum length, maximum length, no control characters', (t) => {
  t.is(checkPassword('x'.repeat(PASSWORD_MIN)), 'x'.repeat(PASSWORD_MIN));
  for (const [bad, why] of [
    ['x'.repeat(PASSWORD_MIN - 1), /at least 10/],
    ['x'.repeat(1025), /at most 1024/],
    ['long enough\npassword', /control characters/],
    ['long enough\u0000password', /control characters/],
    [42, /must be a string/],
  ] as const) {
    const err = t.throws(() => checkPassword(bad));
    t.is((err as { code?: string }).code, 'invalid_input');
    t.regex(err?.message ?? '', why);
    t.regex(err?.message ?? '', /^password: /);
  }
});
