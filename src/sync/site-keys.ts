import { createPrivateKey, randomBytes, sign as cryptoSign } from 'node:crypto';
import { chmod, mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { UpcatError, errnoCode } from '../errors.js';
import { writeFileAtomic } from '../signing/files.js';
import {
  fileKeySigner,
  generateKeyMaterial,
  type KeyMaterial,
  type Signer,
} from '../signing/signer.js';

/**
 * The sync keys under signing/sync/ (mode 0600, directory 0700): the AES-256-GCM key that seals
 * anchors, and the ed25519 key that signs client policy. Made on first use by whichever process
 * gets there first (an exclusive create: the loser reads the winner's file), so several server
 * nodes sharing signing/ agree on them.
 */
const DIR_MODE = 0o700;
const KEY_MODE = 0o600;

export const syncKeysDir = (signingDir: string): string => path.join(signingDir, 'sync');

export async function loadAnchorKey(signingDir: string): Promise<Buffer> {
  const file = path.join(syncKeysDir(signingDir), 'anchor.key');
  const text = await loadOrCreate(file, () => `${randomBytes(32).toString('hex')}\n`);
  const key = Buffer.from(text.trim(), 'hex');
  if (key.length !== 32) throw new UpcatError('integrity', `${file} does not hold a 256-bit key`);
  return key;
}

/**
 * The policy key as a signer that also signs synchronously (`signNow`): the sync fast path answers
 * a new deployment before Express routing, within one turn of the event loop. The key is
 * ed25519 (made so below), which Node signs synchronously in microseconds.
 */
export interface PolicySigner extends Signer {
  signNow(data: Uint8Array): Uint8Array;
}

export async function loadPolicySigner(signingDir: string): Promise<PolicySigner> {
  const file = path.join(syncKeysDir(signingDir), 'policy-key.json');
  const text = await loadOrCreate(
    file,
    () =>
      `${JSON.stringify({ role: 'policy', created: new Date().toISOString(), material: generateKeyMaterial('ed25519') }, null, 2)}\n`,
  );
  let material: KeyMaterial;
  try {
    material = (JSON.parse(text) as { material: KeyMaterial }).material;
    const signer = fileKeySigner(material);
    if (material.kind !== 'ed25519') throw new Error(`a ${material.kind} key, not ed25519`);
    const privateKey = createPrivateKey(material.privateKeyPem);
    return { ...signer, signNow: (data) => cryptoSign(null, data, privateKey) };
  } catch (err) {
    throw new UpcatError('integrity', `${file} is not a readable policy key`, { cause: err });
  }
}

async function loadOrCreate(file: string, make: () => string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if (errnoCode(err) !== 'ENOENT') throw err;
  }
  await mkdir(path.dirname(file), { recursive: true, mode: DIR_MODE });
  try {
    await writeFileAtomic(file, make(), { mode: KEY_MODE, exclusive: true });
    await chmod(file, KEY_MODE);
  } catch (err) {
    if (errnoCode(err) !== 'EEXIST') throw err;
  }
  return readFile(file, 'utf8');
}
