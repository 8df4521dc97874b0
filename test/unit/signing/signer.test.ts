import { createHash } from 'node:crypto';
import test from 'ava';
import { canonicalize } from '@tufjs/canonical-json';
import { Key, Timestamp } from '@tufjs/models';
import { UpcatError } from '../../../src/errors.js';
import {
  KEY_KINDS,
  fileKeySigner,
  generateKeyMaterial,
  parseKeyKind,
  type Signer,
} from '../../../src/signing/signer.js';
import { signMetadata } from '../../../src/signing/tuf-metadata.js';

const timestamp = (): Timestamp =>
  new Timestamp({ version: 1, specVersion: '1.0.31', expires: '2030-01-01T00:00:00Z' });

for (const kind of KEY_KINDS) {
  test(`${kind}: metadata signed by a file key verifies with @tufjs/models`, async (t) => {
    const signer = fileKeySigner(generateKeyMaterial(kind));
    const md = await signMetadata(timestamp(), [signer]);
    const { keyid, ...json } = signer.key;
    const key = Key.fromJSON(keyid, json);
    t.notThrows(() => key.verifySignature(md));
    // TUF spec §4.2: the keyid is the SHA-256 of the canonical public key.
    t.is(keyid, createHash('sha256').update(canonicalize(json)).digest('hex'));
  });
}

test('a signature by another key does not verify', async (t) => {
  const signer = fileKeySigner(generateKeyMaterial());
  const other = fileKeySigner(generateKeyMaterial());
  const impostor: Signer = { key: signer.key, sign: (data) => other.sign(data) };
  const md = await signMetadata(timestamp(), [impostor]);
  const { keyid, ...json } = signer.key;
  t.throws(() => Key.fromJSON(keyid, json).verifySignature(md));
});

test('ed25519 keys are listed as 64 hex digits', (t) => {
  const signer = fileKeySigner(generateKeyMaterial('ed25519'));
  t.like(signer.key, { keytype: 'ed25519', scheme: 'ed25519' });
  t.regex(signer.key.keyval.public, /^[0-9a-f]{64}$/);
});

test('an unknown key type is an invalid_input error', (t) => {
  const err = t.throws(() => parseKeyKind('dsa'), { instanceOf: UpcatError });
  t.is(err?.code, 'invalid_input');
  t.is(parseKeyKind('ecdsa-p256'), 'ecdsa-p256');
});
