import {
  X509Certificate,
  createHmac,
  createPrivateKey,
  randomBytes,
  sign as cryptoSign,
} from 'node:crypto';
import { chmod, mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { UpcatError, errnoCode } from '../errors.js';
import { pkiPaths } from '../signing/ca.js';
import { writeFileAtomic } from '../signing/files.js';
import {
  fileKeySigner,
  generateKeyMaterial,
  publicKeyOf,
  type KeyMaterial,
  type Signer,
} from '../signing/signer.js';
import type { Db } from '../storage/db.js';

/**
 * The sync keys under signing/sync/ (mode 0600, directory 0700): the AES-256-GCM key that seals
 * anchors, and the ed25519 key that signs client policy. They are site keys, one pair per site
 * whatever the number of nodes: `upcat init` makes them and records their public fingerprints
 * in the database (site_keys), with the site CA's, and `upcat serve` checks its files against
 * those records before it takes a request (agreeSiteKeys). A file is still made on first use when missing (an
 * exclusive create: the loser reads the winner's file), which only a site that has recorded
 * no key yet reaches through the check: a single-node site of an older version, or tests.
 */
const DIR_MODE = 0o700;
const KEY_MODE = 0o600;

export const syncKeysDir = (signingDir: string): string => path.join(signingDir, 'sync');

interface SiteKeyKind {
  name: 'anchor' | 'policy' | 'ca';
  file(signingDir: string): string;
  /** Undefined: made by `upcat init` only (a missing file is left to the code that reads it). */
  make: (() => string) | undefined;
  /** A public fact that names the key and reveals nothing of it. */
  fingerprint(text: string, file: string): string;
}

const anchorKeyFile = (signingDir: string): string =>
  path.join(syncKeysDir(signingDir), 'anchor.key');
const policyKeyFile = (signingDir: string): string =>
  path.join(syncKeysDir(signingDir), 'policy-key.json');

const anchorMake = (): string => `${randomBytes(32).toString('hex')}\n`;
const policyMake = (): string =>
  `${JSON.stringify({ role: 'policy', created: new Date().toISOString(), material: generateKeyMaterial('ed25519') }, null, 2)}\n`;

const ANCHOR: SiteKeyKind = {
  name: 'anchor',
  file: anchorKeyFile,
  make: anchorMake,
  // A symmetric key has no public half: an HMAC of a fixed label under it names it one-way.
  fingerprint: (text, file) =>
    createHmac('sha256', anchorKeyOf(text, file))
      .update('upcat site key fingerprint')
      .digest('hex'),
};

const POLICY: SiteKeyKind = {
  name: 'policy',
  file: policyKeyFile,
  make: policyMake,
  fingerprint: (text, file) => publicKeyOf(policyMaterialOf(text, file)).keyid,
};

/**
 * The site CA: clients pin it (native mode, payload signatures), so a node that made its own
 * (`upcat init` run on it instead of copying signing/) would hand out certificates and
 * signatures the agents refuse. It is never rotated, so its fingerprint stays.
 */
const CA: SiteKeyKind = {
  name: 'ca',
  file: (signingDir) => pkiPaths(signingDir).caCert,
  make: undefined,
  fingerprint: (text, file) => {
    try {
      return new X509Certificate(text).fingerprint256.replaceAll(':', '').toLowerCase();
    } catch (err) {
      throw new UpcatError('integrity', `${file} is not a readable certificate`, { cause: err });
    }
  },
};

export async function loadAnchorKey(signingDir: string): Promise<Buffer> {
  const file = anchorKeyFile(signingDir);
  return anchorKeyOf(await loadOrCreate(file, anchorMake), file);
}

function anchorKeyOf(text: string, file: string): Buffer {
  const key = Buffer.from(text.trim(), 'hex');
  if (key.length !== 32) throw new UpcatError('integrity', `${file} does not hold a 256-bit key`);
  return key;
}

function policyMaterialOf(text: string, file: string): KeyMaterial {
  try {
    const material = (JSON.parse(text) as { material: KeyMaterial }).material;
    if (material.kind !== 'ed25519') throw new Error(`a ${material.kind} key, not ed25519`);
    return material;
  } catch (err) {
    throw new UpcatError('integrity', `${file} is not a readable policy key`, { cause: err });
  }
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
  const file = policyKeyFile(signingDir);
  const material = policyMaterialOf(await loadOrCreate(file, policyMake), file);
  try {
    const signer = fileKeySigner(material);
    const privateKey = createPrivateKey(material.privateKeyPem);
    return { ...signer, signNow: (data) => cryptoSign(null, data, privateKey) };
  } catch (err) {
    throw new UpcatError('integrity', `${file} is not a readable policy key`, { cause: err });
  }
}

/**
 * Issue 15 item 3: the site keys are the same on every node. For each one, the database's
 * recorded fingerprint is the site's; the first process to record one (insert-if-absent) makes
 * it so, which also settles two new nodes starting at once. A node whose file is missing while
 * a fingerprint is recorded, or whose file names another key, refuses with one line: an agent
 * that reached it would refuse the policy it signs, or the anchors it sealed would be refused
 * by the other nodes. The signing/ directory is the secret each node needs, like a TLS key.
 */
export async function agreeSiteKeys(db: Db, signingDir: string): Promise<void> {
  for (const kind of [POLICY, ANCHOR, CA]) await agreeSiteKey(db, signingDir, kind);
}

async function agreeSiteKey(db: Db, signingDir: string, kind: SiteKeyKind): Promise<void> {
  const file = kind.file(signingDir);
  const fix = `copy the site's signing/ directory from its first node to ${signingDir}`;
  let recorded = await recordedFingerprint(db, kind.name);
  let text = await readIfPresent(file);
  if (text === undefined) {
    if (recorded !== undefined) {
      throw new UpcatError(
        'integrity',
        `${file} is missing but the database records the site's ${kind.name} key: ${fix}`,
      );
    }
    if (kind.make === undefined) return; // not made yet: the site has no CA before `upcat init`
    text = await loadOrCreate(file, kind.make);
  }
  const fingerprint = kind.fingerprint(text, file);
  if (recorded === undefined) {
    await db('site_keys')
      .insert({ name: kind.name, fingerprint, created_at: new Date().toISOString() })
      .onConflict('name')
      .ignore();
    recorded = await recordedFingerprint(db, kind.name);
  }
  if (recorded !== fingerprint) {
    throw new UpcatError(
      'integrity',
      `${file} is not the site's ${kind.name} key (the database records another): ${fix}`,
    );
  }
}

async function recordedFingerprint(db: Db, name: string): Promise<string | undefined> {
  const row = await db('site_keys').where({ name }).first<{ fingerprint: string } | undefined>();
  return row?.fingerprint;
}

async function readIfPresent(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw err;
  }
}

async function loadOrCreate(file: string, make: () => string): Promise<string> {
  const present = await readIfPresent(file);
  if (present !== undefined) return present;
  await mkdir(path.dirname(file), { recursive: true, mode: DIR_MODE });
  try {
    await writeFileAtomic(file, make(), { mode: KEY_MODE, exclusive: true });
    await chmod(file, KEY_MODE);
  } catch (err) {
    if (errnoCode(err) !== 'EEXIST') throw err;
  }
  return readFile(file, 'utf8');
}
