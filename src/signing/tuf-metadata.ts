import { canonicalize } from '@tufjs/canonical-json';
import {
  Metadata,
  MetadataKind,
  Signature,
  type Root,
  type Snapshot,
  type Targets,
  type Timestamp,
} from '@tufjs/models';
import { UpcatError } from '../errors.js';
import type { RoleSigners, TopRole } from './roles.js';
import type { Signer } from './signer.js';
import { ioOf, type MetadataIO } from './tuf-store.js';

export type Signed = Root | Targets | Snapshot | Timestamp;

/** TUF spec §4.2: the signed part is the canonical JSON form of "signed". */
export async function signMetadata<T extends Signed>(
  signed: T,
  signers: readonly Signer[],
): Promise<Metadata<T>> {
  const md = new Metadata<T>(signed);
  const bytes = Buffer.from(canonicalize(signed.toJSON()));
  for (const signer of signers) {
    const sig = await signer.sign(bytes);
    md.signatures[signer.key.keyid] = new Signature({
      keyID: signer.key.keyid,
      sig: Buffer.from(sig).toString('hex'),
    });
  }
  return md;
}

/** Metadata bytes as written: canonical JSON, so equal metadata always gives equal bytes. */
export function metadataBytes(md: Metadata<Signed>): Buffer {
  return Buffer.from(canonicalize(md.toJSON()));
}

/**
 * The signers of `role` that the trusted metadata names (root for top-level roles, targets for
 * the bins). Extra keys in the key ring (a rotation in progress) are ignored; too few is an error.
 */
export function signersFor(
  roleName: string,
  named: { keyIDs: readonly string[]; threshold: number },
  ring: RoleSigners,
): Signer[] {
  const signers = ring.signers.filter((s) => named.keyIDs.includes(s.key.keyid));
  if (signers.length < named.threshold) {
    throw new UpcatError(
      'conflict',
      `only ${signers.length} of the ${roleName} keys that root names are in the key store ` +
        `(threshold ${named.threshold}); were keys rotated without a new root?`,
    );
  }
  return signers;
}

/** Expiry periods in days per role (TUF spec §4.2 "expires"; defaults as the spec suggests). */
export interface ExpiryDays {
  root: number;
  targets: number;
  snapshot: number;
  timestamp: number;
}

export const DEFAULT_EXPIRY_DAYS: Readonly<ExpiryDays> = {
  root: 365,
  targets: 90,
  snapshot: 7,
  timestamp: 1,
};

/** What the repository writer needs besides keys; every field has a default. */
export interface RepoOptions {
  /** The clock (tests move it to make metadata expire). */
  now?: () => Date;
  expiryDays?: Partial<ExpiryDays>;
  /**
   * Re-sign a role when less than this fraction of its period is left (default 0.5), so that
   * a refresh timer running several times per timestamp period keeps an idle site fresh.
   */
  refreshFraction?: number;
  /** Hashed bins as 2^binBits succinct roles (TAP 15); only used when the repository is created. */
  binBits?: number;
}

export interface ResolvedOptions {
  now: Date;
  expiryDays: ExpiryDays;
  refreshFraction: number;
  binBits: number;
}

export const DEFAULT_BIN_BITS = 8;

export function resolveOptions(options: RepoOptions = {}): ResolvedOptions {
  const expiryDays = { ...DEFAULT_EXPIRY_DAYS, ...options.expiryDays };
  for (const [role, days] of Object.entries(expiryDays)) {
    if (!(days > 0)) throw new UpcatError('invalid_input', `expiry of ${role} must be positive`);
  }
  const binBits = options.binBits ?? DEFAULT_BIN_BITS;
  if (!Number.isInteger(binBits) || binBits < 1 || binBits > 14) {
    throw new UpcatError('invalid_input', 'binBits must be an integer from 1 to 14');
  }
  return {
    now: options.now?.() ?? new Date(),
    expiryDays,
    refreshFraction: options.refreshFraction ?? 0.5,
    binBits,
  };
}

const DAY_MS = 24 * 60 * 60 * 1000;

/** TUF spec §4.2: "expires" is an ISO 8601 date in UTC, "YYYY-MM-DDTHH:MM:SSZ". */
export function expiresAt(opts: ResolvedOptions, role: TopRole): string {
  const at = new Date(opts.now.getTime() + opts.expiryDays[role] * DAY_MS);
  return `${at.toISOString().slice(0, 19)}Z`;
}

/** True when less than `refreshFraction` of the role's period is left before it expires. */
export function needsRefresh(opts: ResolvedOptions, role: TopRole, expires: string): boolean {
  const left = Date.parse(expires) - opts.now.getTime();
  return left < opts.expiryDays[role] * DAY_MS * opts.refreshFraction;
}

/** Reads one metadata file of the repository; undefined when absent. */
export async function readMetadata(
  repo: string | MetadataIO,
  name: string,
  kind: MetadataKind.Root,
): Promise<Metadata<Root> | undefined>;
export async function readMetadata(
  repo: string | MetadataIO,
  name: string,
  kind: MetadataKind.Targets,
): Promise<Metadata<Targets> | undefined>;
export async function readMetadata(
  repo: string | MetadataIO,
  name: string,
  kind: MetadataKind.Snapshot,
): Promise<Metadata<Snapshot> | undefined>;
export async function readMetadata(
  repo: string | MetadataIO,
  name: string,
  kind: MetadataKind.Timestamp,
): Promise<Metadata<Timestamp> | undefined>;
export async function readMetadata(
  repo: string | MetadataIO,
  name: string,
  kind: MetadataKind,
): Promise<Metadata<Signed> | undefined> {
  const io = ioOf(repo);
  const bytes = await io.read(name);
  if (bytes === undefined) return undefined;
  const text = bytes.toString('utf8');
  try {
    const json = JSON.parse(text) as Parameters<typeof Metadata.fromJSON>[1];
    switch (kind) {
      case MetadataKind.Root:
        return Metadata.fromJSON(kind, json);
      case MetadataKind.Targets:
        return Metadata.fromJSON(kind, json);
      case MetadataKind.Snapshot:
        return Metadata.fromJSON(kind, json);
      case MetadataKind.Timestamp:
        return Metadata.fromJSON(kind, json);
    }
  } catch (err) {
    throw new UpcatError('integrity', `TUF metadata ${name} in ${io.label} is unreadable`, {
      cause: err,
    });
  }
}

/** Writes a metadata file: a whole file or nothing (by rename, or in the writer's transaction). */
export async function writeMetadata(
  repo: string | MetadataIO,
  name: string,
  bytes: Buffer,
): Promise<void> {
  await ioOf(repo).write(name, bytes);
}
