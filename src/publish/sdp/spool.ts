import { once } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { VendorPackage } from './vendor-package.js';

/** A checked package and its place in the catalog. */
export interface SpooledPackage {
  index: number;
  pkg: VendorPackage;
}

/**
 * What a package is taken to weigh in memory: its rule trees twice (the canonical text and the
 * parsed trees of the manifest), plus a few KB for the rest. An estimate, not a measure: it only
 * decides when the spool moves to disk.
 */
function weightOf(pkg: VendorPackage): number {
  const rules = (pkg.rules.isInstalled?.length ?? 0) + (pkg.rules.isInstallable?.length ?? 0);
  return 4 * rules + 40 * (pkg.manifest.supersedes?.length ?? 0) + 8192;
}

/**
 * Packages up to this weight stay in memory; past it, all go to a file (issue 11 item 4). A
 * generated 25 MB catalog of 2,000 packages weighs about 80 MB by this estimate, and held in
 * memory adds about as much to the heap.
 */
export const MEMORY_BUDGET = 96 * 1024 * 1024;

/**
 * Checked packages, read back in batches once the catalog has been read. A catalog of a few
 * thousand packages stays in memory, as the objects themselves: serializing each package to JSON
 * and parsing it back cost about a third of a dry run's CPU. A larger one (or one of huge rule
 * trees) moves to JSON lines in a temporary file at the budget, so memory stays bounded
 * whatever the catalog's size.
 */
export class Spool {
  private memory: SpooledPackage[] | undefined = [];
  private weight = 0;
  private out: ReturnType<typeof createWriteStream> | undefined;
  private dir: string | undefined;

  constructor(private readonly budget = MEMORY_BUDGET) {}

  /** Whether the spool has moved to disk (tests). */
  get onDisk(): boolean {
    return this.memory === undefined;
  }

  async write(index: number, pkg: VendorPackage): Promise<void> {
    if (this.memory !== undefined) {
      this.weight += weightOf(pkg);
      if (this.weight <= this.budget) {
        this.memory.push({ index, pkg });
        return;
      }
      const held = this.memory;
      this.memory = undefined;
      for (const item of held) await this.append(item);
    }
    await this.append({ index, pkg });
  }

  private async append(item: SpooledPackage): Promise<void> {
    if (this.out === undefined) {
      this.dir = await mkdtemp(path.join(os.tmpdir(), 'upcat-import-'));
      this.out = createWriteStream(path.join(this.dir, 'packages.jsonl'));
    }
    if (!this.out.write(`${JSON.stringify(item)}\n`)) await once(this.out, 'drain');
  }

  async close(): Promise<void> {
    if (this.out === undefined) return;
    this.out.end();
    await once(this.out, 'close');
  }

  /** The packages in the order written, `size` at a time; can be read more than once. */
  async *batches(size: number): AsyncGenerator<SpooledPackage[]> {
    if (this.memory !== undefined) {
      // Copies of the items: the caller attaches per-run state (staged payloads) to them.
      for (let at = 0; at < this.memory.length; at += size)
        yield this.memory.slice(at, at + size).map((item) => ({ ...item }));
      return;
    }
    if (this.dir === undefined) return;
    const lines = createInterface({
      input: createReadStream(path.join(this.dir, 'packages.jsonl')),
      crlfDelay: Infinity,
    });
    let batch: SpooledPackage[] = [];
    for await (const line of lines) {
      batch.push(JSON.parse(line) as SpooledPackage);
      if (batch.length >= size) {
        yield batch;
        batch = [];
      }
    }
    if (batch.length > 0) yield batch;
  }

  async remove(): Promise<void> {
    this.memory = [];
    if (this.dir !== undefined) await rm(this.dir, { recursive: true, force: true });
  }
}
