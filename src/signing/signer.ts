import {
  constants,
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign as cryptoSign,
  type KeyObject,
} from 'node:crypto';
import { canonicalize } from '@tufjs/canonical-json';
import { UpcatError } from '../errors.js';

/** Key types that TUF clients (tuf-js, python-tuf, go-tuf) accept; ed25519 is the default. */
export type KeyKind = 'ed25519' | 'ecdsa-p256' | 'rsa-pss';

export const KEY_KINDS: readonly KeyKind[] = ['ed25519', 'ecdsa-p256', 'rsa-pss'];

/**
 * Private key material, as a tagged union so that each kind is handled by an exhaustive switch.
 * A kind from an HSM or KMS would be a new member here and a new Signer implementation, with no
 * change to the callers of `Signer.sign`.
 */
export type KeyMaterial =
  | { kind: 'ed25519'; privateKeyPem: string }
  | { kind: 'ecdsa-p256'; privateKeyPem: string }
  | { kind: 'rsa-pss'; privateKeyPem: string };

/** A public key as TUF metadata lists it (TUF spec §4.2, "KEYTYPE", "SCHEME", "KEYVAL"). */
export interface TufPublicKey {
  keyid: string;
  keytype: string;
  scheme: string;
  keyval: { public: string };
}

/** Signs bytes with one key. The one method callers use; key handling stays behind it. */
export interface Signer {
  /** The public half, as root or a delegation lists it. */
  readonly key: TufPublicKey;
  /** The raw signature of `data` in the key's TUF scheme. */
  sign(data: Uint8Array): Promise<Uint8Array>;
}

/** Creates fresh key material of `kind` with Node's crypto (never logged by this module). */
export function generateKeyMaterial(kind: KeyKind = 'ed25519'): KeyMaterial {
  const pem = { privateKeyEncoding: { type: 'pkcs8', format: 'pem' } } as const;
  switch (kind) {
    case 'ed25519':
      return { kind, privateKeyPem: generateKeyPairSync('ed25519', pem).privateKey };
    case 'ecdsa-p256':
      return {
        kind,
        privateKeyPem: generateKeyPairSync('ec', { namedCurve: 'P-256', ...pem }).privateKey,
      };
    case 'rsa-pss':
      return {
        kind,
        privateKeyPem: generateKeyPairSync('rsa', { modulusLength: 3072, ...pem }).privateKey,
      };
    default:
      return assertNever(kind);
  }
}

/** The TUF public key of some key material, with its keyid. */
export function publicKeyOf(material: KeyMaterial): TufPublicKey {
  const pub = createPublicKey(createPrivateKey(material.privateKeyPem));
  switch (material.kind) {
    case 'ed25519': {
      // TUF spec §4.2: ed25519 public keys are 64 hex digits (the raw 32-byte key).
      const der = pub.export({ format: 'der', type: 'spki' });
      return withKeyid('ed25519', 'ed25519', der.subarray(der.length - 32).toString('hex'));
    }
    case 'ecdsa-p256':
      return withKeyid('ecdsa', 'ecdsa-sha2-nistp256', spkiPem(pub));
    case 'rsa-pss':
      return withKeyid('rsa', 'rsassa-pss-sha256', spkiPem(pub));
    default:
      return assertNever(material);
  }
}

/** A Signer over a private key held in memory (loaded from a file by the key store). */
export function fileKeySigner(material: KeyMaterial): Signer {
  const privateKey = createPrivateKey(material.privateKeyPem);
  const key = publicKeyOf(material);
  return {
    key,
    sign: (data) => Promise.resolve(signWith(material.kind, privateKey, data)),
  };
}

function signWith(kind: KeyKind, privateKey: KeyObject, data: Uint8Array): Uint8Array {
  switch (kind) {
    case 'ed25519':
      return cryptoSign(null, data, privateKey);
    case 'ecdsa-p256':
      // DER-encoded (r, s), which is what TUF clients verify for ecdsa-sha2-nistp256.
      return cryptoSign('sha256', data, privateKey);
    case 'rsa-pss':
      return cryptoSign('sha256', data, {
        key: privateKey,
        padding: constants.RSA_PKCS1_PSS_PADDING,
        saltLength: constants.RSA_PSS_SALTLEN_DIGEST,
      });
    default:
      return assertNever(kind);
  }
}

/** TUF spec §4.2: a KEYID is the hex SHA-256 of the canonical JSON of the public key object. */
function withKeyid(keytype: string, scheme: string, publicKey: string): TufPublicKey {
  const keyval = { public: publicKey };
  const keyid = createHash('sha256')
    .update(canonicalize({ keytype, scheme, keyval }))
    .digest('hex');
  return { keyid, keytype, scheme, keyval };
}

function spkiPem(pub: KeyObject): string {
  return pub.export({ format: 'pem', type: 'spki' }).toString();
}

/** Parses a key kind named by a user or a file; anything else is a coded error. */
export function parseKeyKind(value: string): KeyKind {
  const kind = KEY_KINDS.find((k) => k === value);
  if (kind === undefined) {
    throw new UpcatError('invalid_input', `unknown key type "${value}"`, {
      details: { accepted: [...KEY_KINDS] },
    });
  }
  return kind;
}

export function assertNever(value: never): never {
  throw new UpcatError('internal', `unexpected value ${JSON.stringify(value)}`);
}
