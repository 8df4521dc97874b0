import { chmod, mkdir, readdir, readFile, rename } from 'node:fs/promises';
import path from 'node:path';
import { UpcatError, errnoCode } from '../errors.js';
import { writeFileAtomic } from './files.js';
import { TOP_ROLES, isTopRole, type Keyring, type RoleSigners, type TopRole } from './roles.js';
import {
  KEY_KINDS,
  fileKeySigner,
  generateKeyMaterial,
  publicKeyOf,
  type KeyKind,
  type KeyMaterial,
  type Signer,
} from './signer.js';

/**
 * TUF keys under the site's signing/ directory:
 *
 *   signing/tuf/roles.json               thresholds per role (public, no secrets)
 *   signing/tuf/keys/<role>-<keyid>.json one private key per file, mode 0600
 *   signing/tuf/retired/                 keys replaced by a rotation, kept for audit
 *
 * Nothing here logs or prints key material; callers get public facts (KeyInfo) or Signers.
 */
export interface KeyInfo {
  role: TopRole;
  keyid: string;
  kind: KeyKind;
  created: string;
  file: string;
}

export interface InitKeysOptions {
  /** Signatures required per role (TUF spec §4.3); default 1 for every role. */
  thresholds?: Partial<Record<TopRole, number>>;
  /** Keys created per role; at least the threshold. Default: the threshold. */
  keyCounts?: Partial<Record<TopRole, number>>;
  keyKind?: KeyKind;
  now?: () => Date;
}

interface KeyFile {
  role: TopRole;
  created: string;
  material: KeyMaterial;
}

type RolesFile = Record<TopRole, { threshold: number }>;

const KEY_MODE = 0o600;
const DIR_MODE = 0o700;

export const tufKeysDir = (signingDir: string): string => path.join(signingDir, 'tuf', 'keys');
const rolesFile = (signingDir: string): string => path.join(signingDir, 'tuf', 'roles.json');
const retiredDir = (signingDir: string): string => path.join(signingDir, 'tuf', 'retired');

/**
 * `upcat init`: creates the keys of every role that has none. Idempotent: a role that already
 * has keys keeps them and its threshold (changing those is a rotation, which needs a new root).
 */
export async function initKeys(
  signingDir: string,
  options: InitKeysOptions = {},
): Promise<{ created: KeyInfo[]; keys: KeyInfo[] }> {
  await mkdir(tufKeysDir(signingDir), { recursive: true, mode: DIR_MODE });
  const existing = await listKeys(signingDir);
  const roles = (await readRoles(signingDir)) ?? defaultRoles();
  const created: KeyInfo[] = [];
  for (const role of TOP_ROLES) {
    if (existing.some((k) => k.role === role)) continue;
    const threshold = positive(options.thresholds?.[role] ?? 1, `threshold of ${role}`);
    const count = positive(options.keyCounts?.[role] ?? threshold, `key count of ${role}`);
    if (count < threshold) {
      throw new UpcatError(
        'invalid_input',
        `${role} would have ${count} keys for a threshold of ${threshold}`,
      );
    }
    roles[role] = { threshold };
    for (let i = 0; i < count; i++) {
      created.push(await createKey(signingDir, role, options.keyKind ?? 'ed25519', options.now));
    }
  }
  if (created.length > 0) {
    await writeFileAtomic(rolesFile(signingDir), `${JSON.stringify(roles, null, 2)}\n`);
  }
  return { created, keys: await listKeys(signingDir) };
}

/** The public facts of every current key, by role then keyid (for `upcat keys list`). */
export async function listKeys(signingDir: string): Promise<KeyInfo[]> {
  const entries = await readKeyFiles(signingDir);
  return entries.map(({ info }) => info);
}

/** Loads every role's signers and threshold; fails if a role has fewer keys than its threshold. */
export async function loadKeyring(signingDir: string): Promise<Keyring> {
  const roles = await readRoles(signingDir);
  if (roles === undefined) {
    throw new UpcatError('not_found', `no TUF keys under ${signingDir}; run "upcat init"`);
  }
  const entries = await readKeyFiles(signingDir);
  const ring = {} as Keyring;
  for (const role of TOP_ROLES) {
    const signers = entries.filter((e) => e.info.role === role).map((e) => e.signer);
    ring[role] = roleSigners(role, roles[role].threshold, signers);
  }
  return ring;
}

/**
 * Adds `count` fresh keys to `role`: the first step of a rotation. The old keys stay in place
 * until `retireKeys`, after the new root is written, so a crash in between loses no key that
 * the published root still names. Optionally records a new threshold for the role.
 */
export async function addRoleKeys(
  signingDir: string,
  role: TopRole,
  count: number,
  options: { keyKind?: KeyKind; threshold?: number; now?: () => Date } = {},
): Promise<{ created: KeyInfo[]; signers: Signer[] }> {
  positive(count, `key count of ${role}`);
  const created: KeyInfo[] = [];
  for (let i = 0; i < count; i++) {
    created.push(await createKey(signingDir, role, options.keyKind ?? 'ed25519', options.now));
  }
  if (options.threshold !== undefined) {
    const threshold = positive(options.threshold, `threshold of ${role}`);
    if (count < threshold) {
      throw new UpcatError(
        'invalid_input',
        `${role} would have ${count} keys for a threshold of ${threshold}`,
      );
    }
    const roles = (await readRoles(signingDir)) ?? defaultRoles();
    roles[role] = { threshold };
    await writeFileAtomic(rolesFile(signingDir), `${JSON.stringify(roles, null, 2)}\n`);
  }
  const ids = new Set(created.map((k) => k.keyid));
  const signers = (await readKeyFiles(signingDir))
    .filter((e) => ids.has(e.info.keyid))
    .map((e) => e.signer);
  return { created, signers };
}

/** Moves keys out of the key store into retired/ (the last step of a rotation). */
export async function retireKeys(signingDir: string, keyids: readonly string[]): Promise<void> {
  const entries = (await readKeyFiles(signingDir)).filter((e) => keyids.includes(e.info.keyid));
  await mkdir(retiredDir(signingDir), { recursive: true, mode: DIR_MODE });
  for (const { info } of entries) {
    await rename(info.file, path.join(retiredDir(signingDir), path.basename(info.file)));
  }
}

async function createKey(
  signingDir: string,
  role: TopRole,
  kind: KeyKind,
  now: (() => Date) | undefined,
): Promise<KeyInfo> {
  const material = generateKeyMaterial(kind);
  const keyid = publicKeyOf(material).keyid;
  const created = (now?.() ?? new Date()).toISOString();
  const file = path.join(tufKeysDir(signingDir), `${role}-${keyid.slice(0, 16)}.json`);
  const body: KeyFile = { role, created, material };
  await writeFileAtomic(file, `${JSON.stringify(body, null, 2)}\n`, {
    mode: KEY_MODE,
    exclusive: true,
  });
  // The umask can only narrow the mode; set it explicitly in case the file system widened it.
  await chmod(file, KEY_MODE);
  return { role, keyid, kind, created, file };
}

async function readKeyFiles(signingDir: string): Promise<Array<{ info: KeyInfo; signer: Signer }>> {
  let names: string[];
  try {
    names = (await readdir(tufKeysDir(signingDir))).filter(
      (n) => n.endsWith('.json') && !n.startsWith('.'),
    );
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return [];
    throw err;
  }
  const out: Array<{ info: KeyInfo; signer: Signer }> = [];
  for (const name of names.sort()) {
    const file = path.join(tufKeysDir(signingDir), name);
    const parsed = parseKeyFile(file, await readFile(file, 'utf8'));
    const signer = fileKeySigner(parsed.material);
    out.push({
      info: {
        role: parsed.role,
        keyid: signer.key.keyid,
        kind: parsed.material.kind,
        created: parsed.created,
        file,
      },
      signer,
    });
  }
  return out.sort((a, b) =>
    a.info.role === b.info.role
      ? a.info.keyid.localeCompare(b.info.keyid)
      : TOP_ROLES.indexOf(a.info.role) - TOP_ROLES.indexOf(b.info.role),
  );
}

/** Strict parse of a key file; the error names the file and field, never the key's content. */
function parseKeyFile(file: string, text: string): KeyFile {
  const bad = (what: string): UpcatError =>
    new UpcatError('invalid_config', `key file ${file}: ${what}`);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw bad('not JSON');
  }
  if (typeof raw !== 'object' || raw === null) throw bad('not an object');
  const { role, created, material } = raw as Record<string, unknown>;
  if (typeof role !== 'string' || !isTopRole(role)) throw bad('"role" is not a TUF role');
  if (typeof created !== 'string') throw bad('"created" is not a string');
  if (typeof material !== 'object' || material === null) throw bad('"material" is missing');
  const { kind, privateKeyPem } = material as Record<string, unknown>;
  const knownKind = KEY_KINDS.find((k) => k === kind);
  if (knownKind === undefined) throw bad('"material.kind" is not a known key type');
  if (typeof privateKeyPem !== 'string') throw bad('"material.privateKeyPem" is not a string');
  return { role, created, material: { kind: knownKind, privateKeyPem } };
}

async function readRoles(signingDir: string): Promise<RolesFile | undefined> {
  let text: string;
  try {
    text = await readFile(rolesFile(signingDir), 'utf8');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw err;
  }
  const raw = JSON.parse(text) as Partial<Record<string, { threshold?: unknown }>>;
  const roles = defaultRoles();
  for (const role of TOP_ROLES) {
    const threshold = raw[role]?.threshold;
    if (threshold !== undefined) roles[role] = { threshold: positive(threshold, role) };
  }
  return roles;
}

function roleSigners(role: TopRole, threshold: number, signers: Signer[]): RoleSigners {
  if (signers.length < threshold) {
    throw new UpcatError(
      'invalid_config',
      `${role} has ${signers.length} keys for a threshold of ${threshold}`,
    );
  }
  return { threshold, signers };
}

function defaultRoles(): RolesFile {
  return {
    root: { threshold: 1 },
    targets: { threshold: 1 },
    snapshot: { threshold: 1 },
    timestamp: { threshold: 1 },
  };
}

function positive(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 16) {
    throw new UpcatError('invalid_input', `${what} must be an integer from 1 to 16`);
  }
  return value;
}
