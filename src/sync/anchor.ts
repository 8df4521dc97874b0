import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { z } from 'zod';

/**
 * Sync anchors (issue 5 item 8): what a client last received, sealed with AES-256-GCM so that
 * a client can neither read nor forge one. Opening is strict and total: anything that is not a
 * current anchor of this site for this client (tampered, foreign, expired, malformed) opens to
 * `undefined`, and the caller answers with a full sync, never an error.
 */
export interface AnchorState {
  clientId: string;
  catalogVersion: number;
  epoch: number;
  /** The client's status when the anchor was issued (approved, pending, conflict). */
  status: string;
  /** Update ID → digest of the policy entry the client holds. */
  entries: Record<string, string>;
  /** Milliseconds since the epoch. */
  issued: number;
}

const PREFIX = 'a1.';
const AAD = Buffer.from('upcat-sync-anchor-v1');
const MAX_TEXT = 64 * 1024;

const anchorSchema = z
  .object({
    clientId: z.string().max(64),
    catalogVersion: z.number().int().min(0),
    epoch: z.number().int().min(0),
    status: z.string().max(16),
    entries: z.record(z.string().max(64), z.string().max(64)),
    issued: z.number().int().min(0),
  })
  .strict();

export class AnchorSealer {
  constructor(
    private readonly key: Buffer,
    private readonly maxAgeMs: number,
  ) {}

  seal(state: AnchorState): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(AAD);
    const body = Buffer.concat([cipher.update(JSON.stringify(state), 'utf8'), cipher.final()]);
    return PREFIX + Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64url');
  }

  open(
    text: string | undefined,
    clientId: string,
    nowMs: number = Date.now(),
  ): AnchorState | undefined {
    if (text === undefined || text.length > MAX_TEXT || !text.startsWith(PREFIX)) return undefined;
    const raw = Buffer.from(text.slice(PREFIX.length), 'base64url');
    if (raw.length < 12 + 16 + 2) return undefined;
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
    const result = anchorSchema.safeParse(parsed);
    if (!result.success) return undefined;
    const state = result.data;
    if (state.clientId !== clientId) return undefined; // another client's anchor
    if (state.issued > nowMs + 60_000 || nowMs - state.issued > this.maxAgeMs) return undefined;
    return state;
  }
}
