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

async function send(sender: Sender, batch: StateMessage[]): Promise<void> {
  if (sender.kind === 'client') await sender.site.status(batch);
  else await sender.site.fallbackStatus(sender.claims, batch);
}

function isMalformed(err: unknown): boolean {
  return isUpcatError(err) && err.code === 'invalid_input' && !isUnreachable(err);
}

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
        await send(sender, batch);
        sent += batch.length;
      } catch (err) {
        if (!isMalformed(err)) return { sent, error: err };
        // The site refuses the batch as malformed: one message it does not take (a state it does
        // not know yet) would block the queue for ever, so send one by one and drop only those.
        for (const m of batch) {
          try {
            await send(sender, [m]);
            sent += 1;
          } catch (single) {
            if (!isMalformed(single)) {
              await this.drop(batch.indexOf(m));
              return { sent, error: single };
            }
          }
        }
      }
      await this.drop(batch.length);
    }
    return { sent };
  }

  /** Removes the first `count` messages (sent, or refused for good). */
  private async drop(count: number): Promise<void> {
    if (count === 0) return;
    this.messages = this.messages.slice(count);
    await this.save();
  }

  private async save(): Promise<void> {
    await writePrivateJson(this.file, this.messages);
  }
}
