import test from 'ava';
import { checkCompatibility } from '../../../src/site/compatibility.js';
import {
  bearerOf,
  clientIdOfSecret,
  issueSecret,
  secretMatches,
} from '../../../src/site/secrets.js';

test('secrets: random, stored as a hash, matched in constant time, bound to their client ID', (t) => {
  const id = '0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0';
  const a = issueSecret(id);
  const b = issueSecret(id);
  t.not(a.secret, b.secret);
  t.is(clientIdOfSecret(a.secret), id);
  t.true(secretMatches(a.secret, a.hash));
  t.false(secretMatches(b.secret, a.hash));
  t.false(secretMatches(a.secret, null));
  t.false(secretMatches(a.secret, 'short'));
  t.is(clientIdOfSecret('nonsense'), undefined);
  t.is(bearerOf(`Bearer ${a.secret}`), a.secret);
  t.is(bearerOf('Basic abc'), undefined);
  t.is(bearerOf(undefined), undefined);
});

test('compatibility: minimum client version and protocol major', (t) => {
  const site = { minimumClientVersion: '1.2', protocolVersions: ['1.0', '3.1'] };
  t.notThrows(() => checkCompatibility(site, { clientVersion: '1.2.0.0', protocolVersion: '1.9' }));
  t.notThrows(() => checkCompatibility(site, { clientVersion: '10.0', protocolVersion: '3.0' }));
  for (const bad of [
    { clientVersion: '1.1.9', protocolVersion: '1.0' },
    { clientVersion: '1.2', protocolVersion: '2.0' },
  ]) {
    const err = t.throws(() => checkCompatibility(site, bad));
    t.is((err as { code?: string }).code, 'incompatible_site');
  }
});
