import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { z } from 'zod';
import { now } from '../storage/catalog-repo.js';
import type { Db } from '../storage/db.js';
import { parseWith } from '../validation.js';
import { int4, multiline, text } from './fields.js';

export const STATES = [
  'downloading',
  'downloaded',
  'installing',
  'installed',
  /** Final: the update was found installed already (IsInstalled true), so nothing ran. */
  'already_installed',
  'failed',
  /** Not final: a response was not what the signed catalog says (tampered); retried next cycle. */
  'download_rejected',
  'reboot_pending',
  'not_applicable',
  'uninstalled',
  'cannot_reach_site',
  'client_install_failed',
] as const;

const messageSchema = z
  .object({
    id: z.string().regex(/^[A-Za-z0-9._:-]{1,64}$/, 'must be 1-64 letters, digits or . _ : -'),
    topic: z.enum(['update', 'client']),
    updateId: z
      .string()
      .regex(/^[0-9a-fA-F-]{36}$/, 'must be an update ID (GUID)')
      .optional(),
    revision: int4(1).optional(),
    state: z.enum(STATES),
    code: int4().optional(),
    detail: multiline(2048).optional(),
    time: z.iso.datetime({ offset: true }).optional(),
  })
  .strict()
  .refine((m) => m.topic !== 'update' || m.updateId !== undefined, {
    message: 'an update message must name its updateId',
    path: ['updateId'],
  });

/** `POST /v1/status` body (authenticated). */
export const statusSchema = z.object({ messages: z.array(messageSchema).min(1).max(100) }).strict();

/** `POST /fsp/v1/status` body: no identity is proven, so what the sender claims is kept apart. */
export const fallbackSchema = z
  .object({
    hardwareId: text(128).optional(),
    clientId: text(64, 0).optional(),
    name: text(255, 0).optional(),
    clientVersion: text(64, 0).optional(),
    messages: z.array(messageSchema).min(1).max(20),
  })
  .strict();

export interface StoreResult {
  received: number;
  /** Messages not seen before; a resent message is stored once. */
  stored: number;
}

/**
 * State messages (issue 5 item 9). Each is stored once however often it is sent: the row key is
 * a hash of who sent it and its own ID, so a message resent after a lost answer is a no-op, and
 * an unauthenticated sender cannot claim (and so suppress) the IDs of an authenticated client.
 */
export class StateMessageService {
  constructor(private readonly deps: { db: Db; log: Logger }) {}

  async fromClient(clientId: string, body: unknown, source?: string): Promise<StoreResult> {
    const parsed = parseWith(statusSchema, body, 'status messages');
    return this.store(`c:${clientId}`, parsed.messages, {
      client_id: clientId,
      authenticated: true,
      source,
    });
  }

  async fromFallback(body: unknown, source: string): Promise<StoreResult> {
    const parsed = parseWith(fallbackSchema, body, 'status messages');
    const claimed = {
      clientId: parsed.clientId,
      name: parsed.name,
      clientVersion: parsed.clientVersion,
    };
    return this.store(`u:${parsed.hardwareId ?? parsed.clientId ?? source}`, parsed.messages, {
      client_id: null,
      authenticated: false,
      source,
      hardware_id: parsed.hardwareId ?? null,
      claimed,
    });
  }

  private async store(
    scope: string,
    messages: ReadonlyArray<z.output<typeof messageSchema>>,
    common: {
      client_id: string | null;
      authenticated: boolean;
      source: string | undefined;
      hardware_id?: string | null;
      claimed?: Record<string, string | undefined>;
    },
  ): Promise<StoreResult> {
    const receivedAt = now();
    const rows = new Map<string, Record<string, unknown>>();
    for (const m of messages) {
      const key = createHash('sha256').update(`${scope}\n${m.id}`).digest('hex');
      rows.set(key, {
        message_id: key,
        reported_id: m.id,
        client_id: common.client_id,
        authenticated: common.authenticated,
        topic: m.topic,
        update_id: m.updateId?.toLowerCase() ?? null,
        revision_number: m.revision ?? null,
        state: m.state,
        code: m.code ?? null,
        detail: JSON.stringify({ text: m.detail, ...common.claimed }),
        source: common.source?.slice(0, 64) ?? null,
        hardware_id: common.hardware_id ?? null,
        sent_at: m.time === undefined ? null : new Date(m.time).toISOString(),
        received_at: receivedAt,
      });
    }
    const stored = await this.deps.db.transaction(async (trx) => {
      const seen = (await trx('state_messages')
        .whereIn('message_id', [...rows.keys()])
        .select('message_id')) as Array<{
        message_id: string;
      }>;
      for (const s of seen) rows.delete(s.message_id);
      if (rows.size === 0) return 0;
      await trx('state_messages')
        .insert([...rows.values()])
        .onConflict('message_id')
        .ignore();
      return rows.size;
    });
    return { received: messages.length, stored };
  }
}
