import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { processAlive } from '../process-alive.js';
import type { Db } from '../storage/db.js';

/**
 * A lease row (migration 012): one holder at a time across processes and nodes sharing the
 * database. Taken by a conditional update (free, expired, or already ours), which both engines
 * execute atomically, so two nodes racing for an expired lease cannot both win. A holder that
 * dies leaves a lease that expires by itself.
 */
export class Lease {
  readonly owner = `${os.hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;

  constructor(
    private readonly db: Db,
    readonly name: string,
    private readonly ttlMs: number,
  ) {}

  /** True when this holder now has the lease (taken or renewed). */
  async acquire(now = new Date()): Promise<boolean> {
    await this.db('maintenance_leases')
      .insert({ name: this.name, owner: '', expires_at: new Date(0).toISOString() })
      .onConflict('name')
      .ignore();
    const taken = await this.db('maintenance_leases')
      .where({ name: this.name })
      .andWhere((q) => q.where('expires_at', '<', now.toISOString()).orWhere('owner', this.owner))
      .update({
        owner: this.owner,
        expires_at: new Date(now.getTime() + this.ttlMs).toISOString(),
      });
    if (Number(taken) === 1) return true;
    return this.takeFromDead(now);
  }

  /**
   * A holder on this host whose process is gone (a `upcat gc` killed with -9) frees its lease at
   * once rather than when it expires; holders on other hosts are judged by expiry only.
   */
  private async takeFromDead(now: Date): Promise<boolean> {
    const held = await this.holder();
    if (held === undefined) return false;
    const [host, pid] = held.owner.split(':');
    if (host !== os.hostname() || !/^\d+$/.test(pid ?? '') || processAlive(Number(pid)))
      return false;
    const taken = await this.db('maintenance_leases')
      .where({ name: this.name, owner: held.owner })
      .update({
        owner: this.owner,
        expires_at: new Date(now.getTime() + this.ttlMs).toISOString(),
      });
    return Number(taken) === 1;
  }

  /** Who holds the lease and until when (for the message a refused caller prints). */
  async holder(): Promise<{ owner: string; expiresAt: string } | undefined> {
    const row = (await this.db('maintenance_leases').where({ name: this.name }).first()) as
      { owner: string; expires_at: string } | undefined;
    return row === undefined ? undefined : { owner: row.owner, expiresAt: row.expires_at };
  }

  async release(): Promise<void> {
    await this.db('maintenance_leases')
      .where({ name: this.name, owner: this.owner })
      .update({ expires_at: new Date(0).toISOString() });
  }
}
