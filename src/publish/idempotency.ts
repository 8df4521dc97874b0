import type { Db } from '../storage/db.js';
import { liveness, ownerId } from '../storage/owner.js';

/** What a completed request answered, replayed to a retry with the same key. */
export interface StoredAnswer {
  status: number;
  body: unknown;
  /** Fingerprint of the request's manifest and file name (see requestHash in routes/updates.ts). */
  requestHash: string;
  payloadSha256: string;
}

/** The outcome of claiming a key: this request owns it, another is running, or it is answered. */
export type Claim =
  | { kind: 'claimed'; lease: Lease }
  | { kind: 'in_progress' }
  | { kind: 'done'; answer: StoredAnswer };

/** The right to run the request for a key; renewed in the background until completed or dropped. */
export interface Lease {
  /** Stores the answer and ends the lease; later requests with the key get the answer. */
  complete(answer: StoredAnswer): Promise<void>;
  /** Forgets the key (the request failed): a retry runs again. */
  release(): Promise<void>;
}

export interface IdempotencyOptions {
  /** How long an answer is replayed. */
  retentionMs: number;
  /** How long a lease lasts unless renewed: a crashed node's key is free again after it. */
  leaseMs: number;
}

export const DEFAULT_IDEMPOTENCY: IdempotencyOptions = {
  retentionMs: 24 * 60 * 60 * 1000,
  leaseMs: 2 * 60 * 1000,
};

interface Row {
  state: 'in_progress' | 'done';
  owner: string;
  request_hash: string | null;
  payload_sha256: string | null;
  status: number | null;
  body: string | null;
  expires_at: string;
}

/**
 * Idempotency keys (issue 7), per actor: a key is claimed with an insert that only one request
 * can win (the primary key decides, on SQLite and PostgreSQL alike), so two requests with one key
 * never both publish. Expired rows are pruned lazily on each claim.
 */
export class IdempotencyStore {
  constructor(
    private readonly db: Db,
    private readonly options: IdempotencyOptions = DEFAULT_IDEMPOTENCY,
  ) {}

  async claim(actor: string, key: string): Promise<Claim> {
    await this.prune();
    // A lease left by a crashed request is taken over once it has expired; two attempts
    // suffice: the second insert loses only to a live request.
    for (let attempt = 0; attempt < 3; attempt++) {
      // Names this process (storage/owner.ts), so that a retry after a crash can see the holder is dead.
      const owner = ownerId(32);
      const started = new Date();
      await this.db('idempotency_keys')
        .insert({
          actor,
          key,
          state: 'in_progress',
          owner,
          created_at: started.toISOString(),
          expires_at: this.leaseEnd(),
        })
        .onConflict(['actor', 'key'])
        .ignore();
      const row = (await this.db('idempotency_keys').where({ actor, key }).first()) as
        Row | undefined;
      if (row === undefined) continue; // pruned between insert and read: try again
      if (row.owner === owner) return { kind: 'claimed', lease: this.lease(actor, key, owner) };
      if (row.expires_at > new Date().toISOString()) {
        if (row.state === 'done') return { kind: 'done', answer: answerOf(row) };
        // A lease whose holder is known dead (it crashed on this machine) is taken over now:
        // waiting out its lease would only delay the client's retry (issue 13 item 7).
        if (liveness(row.owner) !== 'dead') return { kind: 'in_progress' };
      }
      await this.db('idempotency_keys')
        .where({ actor, key, owner: row.owner, expires_at: row.expires_at })
        .delete();
    }
    return { kind: 'in_progress' };
  }

  private lease(actor: string, key: string, owner: string): Lease {
    const mine = (): ReturnType<Db> => this.db('idempotency_keys').where({ actor, key, owner });
    const renew = setInterval(
      () => {
        mine()
          .update({ expires_at: this.leaseEnd() })
          .catch(() => undefined); // a failed renewal only shortens the lease
      },
      Math.max(1000, this.options.leaseMs / 3),
    );
    renew.unref();
    return {
      complete: async (answer) => {
        clearInterval(renew);
        await mine().update({
          state: 'done',
          request_hash: answer.requestHash,
          payload_sha256: answer.payloadSha256,
          status: answer.status,
          body: JSON.stringify(answer.body),
          expires_at: new Date(Date.now() + this.options.retentionMs).toISOString(),
        });
      },
      release: async () => {
        clearInterval(renew);
        await mine().delete();
      },
    };
  }

  private leaseEnd(): string {
    return new Date(Date.now() + this.options.leaseMs).toISOString();
  }

  private async prune(): Promise<void> {
    await this.db('idempotency_keys')
      .where('state', 'done')
      .andWhere('expires_at', '<', new Date().toISOString())
      .delete();
  }
}

function answerOf(row: Row): StoredAnswer {
  return {
    status: row.status ?? 200,
    body: JSON.parse(row.body ?? 'null') as unknown,
    requestHash: row.request_hash ?? '',
    payloadSha256: row.payload_sha256 ?? '',
  };
}
