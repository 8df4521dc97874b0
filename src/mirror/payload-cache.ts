import { renameSync } from 'node:fs';
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';

/** One cached file: a payload or update document by its SHA-256, or a payload's `.p7s`. */
interface Entry {
  name: string;
  size: number;
  /** Monotonic use counter: the smallest is the least recently used. */
  lastUse: number;
  /** Responses reading the file now: it is not evicted while any is. */
  readers: number;
}

/** A reader's hold on a cached file; `release` once the response has ended. */
export interface CacheHold {
  file: string;
  size: number;
  release(): void;
}

const NAME = /^[0-9a-f]{64}(\.p7s)?$/;

/**
 * The mirror's payload store (issue 15 item 5): files by name under `dir`, at most `budget`
 * bytes in all. Admitting a file evicts the least recently used files that no response is
 * reading; a file larger than what can be freed is served once and not kept. The use order
 * lives in memory and starts from the files' modification times, so a restart keeps roughly the
 * same order without an index file to corrupt.
 */
export class PayloadCache {
  private readonly entries = new Map<string, Entry>();
  private clock = 0;
  private total = 0;

  constructor(
    readonly dir: string,
    readonly budget: number,
  ) {}

  /** Reads what an earlier run left (partial downloads under tmp/ are dropped). */
  async open(): Promise<void> {
    await rm(this.tmpDir, { recursive: true, force: true });
    await mkdir(this.tmpDir, { recursive: true, mode: 0o700 });
    const found: Array<{ name: string; size: number; mtime: number }> = [];
    for (const name of await readdir(this.dir)) {
      if (!NAME.test(name)) continue;
      const s = await stat(path.join(this.dir, name));
      found.push({ name, size: s.size, mtime: s.mtimeMs });
    }
    for (const f of found.sort((a, b) => a.mtime - b.mtime)) {
      this.entries.set(f.name, { name: f.name, size: f.size, lastUse: ++this.clock, readers: 0 });
      this.total += f.size;
    }
    this.reserve(0);
  }

  get tmpDir(): string {
    return path.join(this.dir, 'tmp');
  }

  get bytes(): number {
    return this.total;
  }

  get count(): number {
    return this.entries.size;
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  /** A hold on a cached file, marking it used; undefined when it is not cached. */
  acquire(name: string): CacheHold | undefined {
    const entry = this.entries.get(name);
    if (entry === undefined) return undefined;
    entry.lastUse = ++this.clock;
    entry.readers++;
    return this.hold(entry, path.join(this.dir, name), () => {
      entry.readers--;
    });
  }

  /**
   * Moves a complete, checked file from tmp/ into the cache and holds it for the response. When
   * the budget cannot make room, the file stays outside the cache and is deleted on release.
   */
  async admit(name: string, tmpFile: string, size: number): Promise<CacheHold> {
    // Room is taken before the first await, so concurrent admissions never overrun the budget.
    if (!this.reserve(size)) {
      let released = false;
      return {
        file: tmpFile,
        size,
        release: () => {
          if (released) return;
          released = true;
          void rm(tmpFile, { force: true });
        },
      };
    }
    try {
      await rename(tmpFile, path.join(this.dir, name));
    } catch (err) {
      this.total -= size;
      throw err;
    }
    const entry: Entry = { name, size, lastUse: ++this.clock, readers: 0 };
    this.entries.set(name, entry);
    const hold = this.acquire(name);
    if (hold === undefined) throw new Error(`cache entry ${name} vanished`);
    return hold;
  }

  /**
   * Counts `size` more bytes in, first dropping the least recently used files that no response
   * is reading; false (nothing dropped) when files being read keep too much. Synchronous, so
   * that two admissions cannot both count on the same free room.
   */
  private reserve(size: number): boolean {
    if (size > this.budget) return false;
    const idle = [...this.entries.values()]
      .filter((e) => e.readers === 0)
      .sort((a, b) => a.lastUse - b.lastUse);
    const busy = this.total - idle.reduce((sum, e) => sum + e.size, 0);
    if (busy + size > this.budget) return false;
    for (const e of idle) {
      if (this.total + size <= this.budget) break;
      this.entries.delete(e.name);
      this.total -= e.size;
      // Moved aside at once (a rename, not a long unlink), so a fetch of the same name that
      // lands before the deletion runs is not the file deleted.
      const aside = path.join(this.tmpDir, `${e.name}.evicted-${++this.clock}`);
      renameSync(path.join(this.dir, e.name), aside);
      void rm(aside, { force: true });
    }
    this.total += size;
    return true;
  }

  private hold(entry: Entry, file: string, done: () => void): CacheHold {
    let released = false;
    return {
      file,
      size: entry.size,
      release: () => {
        if (released) return;
        released = true;
        done();
      },
    };
  }
}
