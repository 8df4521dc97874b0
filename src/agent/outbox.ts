import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { z } from 'zod';
import { isUpcatError } from '../errors.js';
import { isUnreachable, type SiteClient, type StateMessage } from './site-client.js';
import { readJsonFile, writePrivateJson } from './state-dir.js';

const messageSchema = z.object({
  id: z.string(),
  topic: z.enum(['update', 'client']),
  updateId: z.string().optional(),
  revision: z.number().int().optional(),
  state: z.string(),
  code: z.number().int().optional(),
  detail: z.string().optional(),
  time: z.string().optional(),
});

/** Messages kept at most; the oldest go first when a long outage fills it. */
const MAX_QUEUED = 5000;
const BATCH = 100;
const FALLBACK_BATCH = 20;

export type Sender =
  | { kind: 'client'; site: SiteClient }
  | {
      kind: 'fallback';
      site: SiteClient;
      claims: { hardwareId: string; clientId?: string; name: string; clientVersion: string };
    };

/**
 * State messages on their way to the site (issue 6 item 3), kept in `<state>/outbox.json`. Each
 * gets a unique ID when it is queued, so sending it again after a lost answer is harmless (the
 * site stores one per sender and ID). Whatever cannot be sent stays for the next cycle.
 */
export class Outbox {
  private messages: StateMessage[] = [];
  private readonly file: string;

  constructor(stateDir: string) {
    this.file = path.join(stateDir, 'outbox.json');
  }

  async load(): Promise<void> {
    const raw = await readJsonFile(this.file);
    const parsed = z.array(messageSchema).safeParse(raw ?? []);
    this.messages = parsed.success ? parsed.data : [];
  }

  get size(): number {
    return this.messages.length;
  }

  pending(): readonly StateMessage[] {
    return this.messages;
  }

  async add(message: Omit<StateMessage, 'id' | 'time'>): Promise<StateMessage> {
    const m: StateMessage = {
      id: randomUUID(),
      time: new Date().toISOString(),
      ...message,
      ...(message.detail === undefined ? {} : { detail: message.detail.slice(0, 2048) }),
    };
    this.messages.push(m);
    if (this.messages.length > MAX_QUEUED) this.messages = this.messages.slice(-MAX_QUEUED);
    await this.save();
    return m;
  }

  /**
   * Sends what is queued, oldest first, in batches. Stops at the first batch the site does not
   * take (unreachable, refused); what was sent leaves the queue. Returns how many were sent.
   */
  async flush(sender: Sender): Promise<{ sent: number; error?: unknown }> {
    let sent = 0;
    const size = sender.kind === 'client' ? BATCH : FALLBACK_BATCH;
    while (this.messages.length > 0) {
      const batch = this.messages.slice(0, size);
      try {
        if (sender.kind === 'client') await sender.site.status(batch);
        else await sender.site.fallbackStatus(sender.claims, batch);
      } catch (err) {
        // A message the site rejects as malformed would block the queue for ever: drop that batch.
        if (isUpcatError(err) && err.code === 'invalid_input' && !isUnreachable(err)) {
          this.messages = this.messages.slice(batch.length);
          await this.save();
          continue;
        }
        return { sent, error: err };
      }
      this.messages = this.messages.slice(batch.length);
      sent += batch.length;
      await this.save();
    }
    return { sent };
  }

  private async save(): Promise<void> {
    await writePrivateJson(this.file, this.messages);
  }
}
