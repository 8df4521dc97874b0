/**
 * Registered computers remembered between scans, so that a SyncUpdates that finds nothing new
 * reads nothing from the database (issue 12's benchmark: one statement per scan was the largest
 * cost left once the envelope memo took the XML parse away).
 *
 * It holds what the read-only operations use (the client record, its groups, the catalog
 * version) and is exactly as fresh as the agent's sync fast path (sync/fast-path.ts): it rests
 * on the site's ChangeWatcher. Any change to a client fact that a server caches (approval,
 * blocking, replacement, secret, policy epoch and so group membership: triggers move a counter)
 * or to the catalog empties it, at once when made in this process and within one poll interval
 * when made by another; while a change of this process is in flight nothing is answered from
 * it; and a read that overlapped a change is not kept. Registration (which may point a
 * SusClientId at another record) empties it too. Without a running watcher (the CLI, a test
 * without `changes.start()`), every lookup reads the database.
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
    changes?.onChange(() => this.held.clear());
  }

  /** The computer, from memory when that is current, else from `load` (kept when it may be). */
  async find(
    susClientId: string,
    load: () => Promise<Computer | undefined>,
  ): Promise<Computer | undefined> {
    const changes = this.changes;
    if (changes === undefined || this.capacity === 0) return load();
    const held = this.held.get(susClientId);
    if (held !== undefined && changes.current() !== undefined) {
      this.hits += 1;
      return held;
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

  /** Forgets everything (a registration in this process). */
  clear(): void {
    this.held.clear();
  }
}
