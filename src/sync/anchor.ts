import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { UpcatError } from '../errors.js';
import { decodeBase64Strict } from '../strict-base64.js';

/**
 * Sync anchors (issue 5 item 8): what a client last received, sealed with AES-256-GCM so that
 * a client can neither read nor forge one. Opening is strict and total: anything that is not a
 * current anchor of this site for this client (tampered, foreign, expired, malformed) opens to
 * `undefined`, and the caller answers with a full sync, never an error.
 *
 * An anchor travels in the sync URL, so its size is bounded whatever the policy's: up to
 * ENTRY_BUDGET entries it names each one (update ID and a short digest, packed as 28 bytes),
 * which lets a change be answered incrementally; beyond that it holds only a digest of the
 * whole policy, so an unchanged policy is still a 304 and a changed one is sent whole.
 */
export interface AnchorState {
  clientId: string;
  catalogVersion: number;
  epoch: number;
  /** The client's status when the anchor was issued (approved, pending, conflict). */
  status: string;
  /** Update ID → digest (24 hex digits) of each policy entry the client holds, when within budget. */
  entries?: Record<string, string>;
  /** Otherwise: a digest of the whole policy (policyDigest below). */
  policy?: string;
  /** Milliseconds since the epoch. */
  issued: number;
}

/** Entries an anchor names one by one; a bigger policy is held as one digest. */
export const ENTRY_BUDGET = 64;
/** An update ID (a lower-case GUID, 16 bytes) and its entry digest (12 bytes). */
const ENTRY_BYTES = 28;

const PREFIX = 'a2.';
const AAD = Buffer.from('upcat-sync-anchor-v2');
/** Far above the largest anchor this site seals (about 3.5 KB): anything longer is not one. */
const MAX_TEXT = 8 * 1024;

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const DIGEST = /^[0-9a-f]{24}$/;

/** An anchor as sealed: its entries packed (base64url). */
interface AnchorWire {
  clientId: string;
  catalogVersion: number;
  epoch: number;
  status: string;
  entries?: string;
  policy?: string;
  issued: number;
}

const WIRE_KEYS = new Set([
  'clientId',
  'catalogVersion',
  'epoch',
  'status',
  'entries',
  'policy',
  'issued',
]);
const MAX_PACKED = Math.ceil((ENTRY_BUDGET * ENTRY_BYTES * 4) / 3);
const PACKED = /^[A-Za-z0-9_-]*$/;
const POLICY_DIGEST = /^[0-9a-f]{32}$/;

/**
 * The opened JSON when it is exactly an anchor's shape (no other key, every bound held, entries
 * or a policy digest but not both), else undefined. Written out rather than a zod schema: every
 * sync opens one, and the schema's parse was a tenth of a nothing-new sync's own work (issue
 * 16). test/unit/anchor.test.ts holds the schema it replaced and checks that they agree.
 */
function wireOf(value: unknown): AnchorWire | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const v = value as Record<string, unknown>;
  for (const key of Object.keys(v)) if (!WIRE_KEYS.has(key)) return undefined;
  const { clientId, catalogVersion, epoch, status, entries, policy, issued } = v;
  if (typeof clientId !== 'string' || clientId.length > 64) return undefined;
  if (typeof status !== 'string' || status.length > 16) return undefined;
  if (!count(catalogVersion) || !count(epoch) || !count(issued)) return undefined;
  if (entries !== undefined) {
    if (policy !== undefined || typeof entries !== 'string') return undefined;
    if (entries.length > MAX_PACKED || !PACKED.test(entries)) return undefined;
    return { clientId, catalogVersion, epoch, status, entries, issued };
  }
  if (typeof policy !== 'string' || !POLICY_DIGEST.test(policy)) return undefined;
  return { clientId, catalogVersion, epoch, status, policy, issued };
}

/** A whole number from 0 up (zod's int().min(0): a safe integer). */
function count(n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
}

/**
 * How an anchor holds this policy (update ID → entry digest): entry by entry when within budget
 * and every ID packs (a lower-case GUID), else as the digest of the whole.
 */
export function holdingOf(
  digests: Readonly<Record<string, string>>,
): Pick<AnchorState, 'entries' | 'policy'> {
  const ids = Object.keys(digests);
  const packable =
    ids.length <= ENTRY_BUDGET &&
    ids.every((id) => GUID.test(id) && DIGEST.test(digests[id] ?? ''));
  return packable ? { entries: { ...digests } } : { policy: policyDigest(digests) };
}

/** A digest of a whole policy: its entries' digests in update ID order (128 bits, hex). */
export function policyDigest(digests: Readonly<Record<string, string>>): string {
  const h = createHash('sha256');
  for (const id of Object.keys(digests).sort()) h.update(`${id} ${digests[id] ?? ''}\n`);
  return h.digest('hex').slice(0, 32);
}

export class AnchorSealer {
  constructor(
    private readonly key: Buffer,
    private readonly maxAgeMs: number,
  ) {}

  /** An anchor issued at `issued` is still good at `nowMs`: not from the future, not too old. */
  fresh(issued: number, nowMs: number): boolean {
    return issued <= nowMs + 60_000 && nowMs - issued <= this.maxAgeMs;
  }

  seal(state: AnchorState): string {
    const { entries, ...rest } = state;
    const wire = entries === undefined ? rest : { ...rest, entries: pack(entries) };
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(AAD);
    const body = Buffer.concat([cipher.update(JSON.stringify(wire), 'utf8'), cipher.final()]);
    return PREFIX + Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64url');
  }

  open(
    text: string | undefined,
    clientId: string,
    nowMs: number = Date.now(),
  ): AnchorState | undefined {
    if (text === undefined || text.length > MAX_TEXT || !text.startsWith(PREFIX)) return undefined;
    const raw = decodeBase64Strict(text.slice(PREFIX.length), 'base64url');
    if (raw === undefined || raw.length < 12 + 16 + 2) return undefined;
    let plain: string;
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, 12));
      decipher.setAAD(AAD);
      decipher.setAuthTag(raw.subarray(raw.length - 16));
      plain = Buffer.concat([
        decipher.update(raw.subarray(12, raw.length - 16)),
        decipher.final(),
      ]).toString('utf8');
    } catch {
      return undefined; // wrong key (another site) or altered bytes: the tag does not verify
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(plain);
    } catch {
      return undefined;
    }
    const wire = wireOf(parsed);
    if (wire === undefined) return undefined;
    const { entries: packed, policy, ...state } = wire;
    if (state.clientId !== clientId) return undefined; // another client's anchor
    if (!this.fresh(state.issued, nowMs)) return undefined;
    if (packed === undefined) return { ...state, policy };
    const entries = unpack(packed);
    return entries === undefined ? undefined : { ...state, entries };
  }
}

/** update ID (16 bytes) + digest (12 bytes) per entry, base64url. */
function pack(entries: Readonly<Record<string, string>>): string {
  const ids = Object.keys(entries);
  const out = Buffer.alloc(ids.length * ENTRY_BYTES);
  ids.forEach((id, i) => {
    const digest = entries[id] ?? '';
    if (ids.length > ENTRY_BUDGET || !GUID.test(id) || !DIGEST.test(digest))
      throw new UpcatError('internal', 'anchor entries must come from holdingOf');
    out.write(id.replaceAll('-', ''), i * ENTRY_BYTES, 16, 'hex');
    out.write(digest, i * ENTRY_BYTES + 16, 12, 'hex');
  });
  return out.toString('base64url');
}

function unpack(text: string): Record<string, string> | undefined {
  const raw = decodeBase64Strict(text, 'base64url');
  if (
    raw === undefined ||
    raw.length % ENTRY_BYTES !== 0 ||
    raw.length / ENTRY_BYTES > ENTRY_BUDGET
  )
    return undefined;
  const entries: Record<string, string> = {};
  for (let at = 0; at < raw.length; at += ENTRY_BYTES) {
    const hex = raw.toString('hex', at, at + 16);
    const id = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
    entries[id] = raw.toString('hex', at + 16, at + ENTRY_BYTES);
  }
  return entries;
}
