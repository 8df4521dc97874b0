/**
 * Registered computers remembered between scans, so that a SyncUpdates that finds nothing new
 * reads nothing from the database (issue 12's benchmark: one statement per scan was the largest
 * cost left once the envelope memo took the XML parse away).
 *
 * It holds what the read-only operations use (the client record and its groups) and is exactly
 * as fresh as the agent's sync fast path (sync/fast-path.ts): it rests on the site's
 * ChangeWatcher. Any change to a client fact that a server caches (approval, blocking,
 * replacement, secret, policy epoch and so group membership: triggers move a counter) empties
 * it, at once when made in this process and within one poll interval when made by another; while
 * a change of this process is in flight nothing is answered from it; and a read that overlapped a
 * change is not kept. Registration (which may point a SusClientId at another record) empties it
 * too. A catalog change does not: the record's catalog version is the watcher's, so that on patch
 * day, when a new deployment moves the catalog, the storm of scans that follows still finds every
 * record in memory. Without a running watcher (the CLI, a test without `changes.start()`), every
 * lookup reads the database.
 */
import type { ChangeWatcher } from '../../storage/changes.js';
import type { Computer } from './computers.js';

export class ComputerMemory {
  private readonly held = new Map<string, Computer>();
  /** Lookups answered from memory (for tests). */
  hits = 0;

  constructor(
    private readonly changes: ChangeWatcher | undefined,
    private readonly capacity: number,
  ) {
    changes?.onChange((clientsChanged) => {
      if (clientsChanged) this.held.clear();
    });
  }

  /** The computer, from memory when that is current, else from `load` (kept when it may be). */
  async find(
    susClientId: string,
    load: () => Promise<Computer | undefined>,
  ): Promise<Computer | undefined> {
    const changes = this.changes;
    if (changes === undefined || this.capacity === 0) return load();
    const held = this.held.get(susClientId);
    const state = changes.current();
    if (held !== undefined && state !== undefined) {
      this.hits += 1;
      if (held.client.catalog_version === state.catalogVersion) return held;
      // A new object, not a change to the held one: a request still using it keeps its version.
      const current = {
        ...held,
        client: { ...held.client, catalog_version: state.catalogVersion },
      };
      this.held.set(susClientId, current);
      return current;
    }
    const mark = changes.mark();
    const found = await load();
    if (found !== undefined && changes.unchangedSince(mark)) {
      if (this.held.size >= this.capacity && !this.held.has(susClientId)) {
        const oldest = this.held.keys().next().value;
        if (oldest !== undefined) this.held.delete(oldest);
      }
      this.held.set(susClientId, found);
    }
    return found;
  }

  /**
   * Reads every registered computer into memory, `chunk` at a time in SusClientId order, so that
   * a server that has just started answers scans from memory at once (as the agent's fast path
   * warms). A chunk read while something changed is dropped; its computers are remembered at
   * their next scan.
   */
  async warm(
    page: (after: string, limit: number) => Promise<Computer[]>,
    chunk = 5_000,
  ): Promise<number> {
    const changes = this.changes;
    if (changes === undefined || this.capacity === 0) return 0;
    let after = '';
    let loaded = 0;
    while (this.held.size < this.capacity) {
      const mark = changes.mark();
      const rows = await page(after, chunk);
      if (changes.unchangedSince(mark)) {
        for (const c of rows) {
          if (this.held.size >= this.capacity) break;
          if (!this.held.has(c.susClientId)) this.held.set(c.susClientId, c);
          loaded += 1;
        }
      }
      const last = rows[rows.length - 1];
      if (last === undefined || rows.length < chunk) break;
      after = last.susClientId;
    }
    return loaded;
  }

  /** Forgets everything (a registration in this process). */
  clear(): void {
    this.held.clear();
  }
}
