import { Lease } from '../ops/lease.js';
import type { Db } from '../storage/db.js';
import type { RepoSummary } from './tuf-repo.js';

/** The lease row that names the one node re-signing timestamp and snapshot (issue 15 item 2). */
export const TUF_REFRESH_LEASE = 'tuf-refresh';

/**
 * Re-signing before expiry by one node only: every node runs the timer, and the holder of the
 * `tuf-refresh` lease refreshes while the others only serve. The lease outlives three timer
 * periods, so a holder that dies is replaced within that time, long before anything expires
 * (the refresh re-signs at half of the timestamp's period by default).
 */
export class TufRefresher {
  private readonly lease: Lease;

  constructor(
    db: Db,
    private readonly refresh: () => Promise<RepoSummary>,
    intervalSeconds: number,
  ) {
    this.lease = new Lease(db, TUF_REFRESH_LEASE, intervalSeconds * 3 * 1000);
  }

  /** Refreshes when this node holds (or takes) the lease; undefined when another node does. */
  async tick(now = new Date()): Promise<RepoSummary | undefined> {
    if (!(await this.lease.acquire(now))) return undefined;
    return this.refresh();
  }

  /** Hands the lease over at shutdown, so another node takes the next turn without waiting. */
  release(): Promise<void> {
    return this.lease.release();
  }
}
