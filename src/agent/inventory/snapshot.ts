/** The JSON snapshot of DESIGN.md §8 as a provider: the whole file, whatever is asked. */
import { readFile } from 'node:fs/promises';
import { errnoCode, invalidInput } from '../../errors.js';
// rules/inventory.js, not the rule engine's index, which would load the XML reader too; and that
// only for a snapshot the zod-free check refuses (its schema loads zod; issue 16).
import type { Inventory } from '../../rules/inventory.js';
import { isInventory } from '../../rules/inventory-check.js';
import type { InventoryProvider, InventoryRequest } from './provider.js';

/** Snapshots are small; anything larger is a mistake, not an inventory. */
export const MAX_SNAPSHOT_BYTES = 64 * 1024 * 1024;

export class SnapshotProvider implements InventoryProvider {
  readonly name = 'snapshot';
  constructor(private readonly inventory: Inventory) {}

  /** Validates a parsed snapshot; errors name the bad field. */
  static async fromJson(value: unknown, label = 'inventory'): Promise<SnapshotProvider> {
    if (isInventory(value)) return new SnapshotProvider(value);
    const { parseInventory } = await import('../../rules/inventory.js');
    return new SnapshotProvider(parseInventory(value, label));
  }

  /** Reads and validates a snapshot file; errors name the file and the bad field. */
  static async fromFile(file: string): Promise<SnapshotProvider> {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      const code = errnoCode(err);
      if (code === 'ENOENT') throw invalidInput(`inventory ${file} does not exist`);
      throw invalidInput(`cannot read inventory ${file}: ${(err as Error).message}`);
    }
    if (Buffer.byteLength(text) > MAX_SNAPSHOT_BYTES) {
      throw invalidInput(`inventory ${file} is larger than ${MAX_SNAPSHOT_BYTES} bytes`);
    }
    let value: unknown;
    try {
      value = JSON.parse(text) as unknown;
    } catch (err) {
      throw invalidInput(`inventory ${file} is not valid JSON: ${(err as Error).message}`);
    }
    return SnapshotProvider.fromJson(value, file);
  }

  /** A snapshot already holds all it knows: the request changes nothing. */
  collect(_request: InventoryRequest): Promise<Inventory> {
    return Promise.resolve(this.inventory);
  }
}
