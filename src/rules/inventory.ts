/**
 * The inventory snapshot (DESIGN.md §8): what the agent knows of one machine. A section that is
 * absent means "not collected", so rules that need it evaluate to unknown; a section that is
 * present is taken as complete (a file it does not list does not exist).
 * Beyond §8, a few optional fields let more WSUS attributes be answered: platform service pack,
 * file created / modified / language. Unknown fields are errors, as in the manifest.
 */
import { z } from 'zod';
import { invalidInput } from '../errors.js';
import { ARCHITECTURES } from './model.js';

const uint = z.number().int().nonnegative();

const platform = z.strictObject({
  /** "windows", "linux", "macos"... compared case-insensitively. */
  name: z.string().min(1),
  version: z.string().min(1).optional(),
  /** Windows OSVERSIONINFOEX.wProductType: 1 workstation, 2 domain controller, 3 server. */
  productType: uint.optional(),
  architecture: z.enum(ARCHITECTURES).optional(),
  servicePackMajor: uint.optional(),
  servicePackMinor: uint.optional(),
});

const file = z.strictObject({
  version: z.string().min(1).optional(),
  size: uint.optional(),
  created: z.string().min(1).optional(),
  modified: z.string().min(1).optional(),
  language: uint.optional(),
});

const registryValue = z.discriminatedUnion('type', [
  z.strictObject({ type: z.enum(['REG_SZ', 'REG_EXPAND_SZ']), data: z.string() }),
  z.strictObject({ type: z.enum(['REG_DWORD', 'REG_QWORD']), data: uint }),
  z.strictObject({ type: z.literal('REG_MULTI_SZ'), data: z.array(z.string()) }),
  z.strictObject({
    type: z.enum(['REG_BINARY', 'REG_FULL_RESOURCE_DESCRIPTOR']),
    data: z.string().regex(/^([0-9A-Fa-f]{2})*$/, 'expected hex bytes'),
  }),
]);

const msiProduct = z.strictObject({
  version: z.string().min(1).optional(),
  language: z.number().int().optional(),
});

const wmiValue = z.union([z.string(), z.number(), z.boolean(), z.null()]);

const inventorySchema = z.strictObject({
  platform: platform.optional(),
  /** Full path -> what is known of the file. */
  files: z.record(z.string().min(1), file).optional(),
  /** "HKEY_LOCAL_MACHINE\\SOFTWARE\\..." -> value name ("" for the default value) -> value. */
  registry: z.record(z.string().min(1), z.record(z.string(), registryValue)).optional(),
  /** Product code in braces -> installed product. */
  msiProducts: z.record(z.string().min(1), msiProduct).optional(),
  /**
   * WMI class -> instances (property -> value). A class of root\cimv2 is named alone
   * ("Win32_BIOS"); a class of another namespace as "root\\dell\\sysinv:Dell_SoftwareIdentity".
   */
  wmi: z.record(z.string().min(1), z.array(z.record(z.string(), wmiValue))).optional(),
  facts: z.record(z.string().min(1), z.union([z.string(), z.number(), z.boolean()])).optional(),
});

export type Inventory = z.infer<typeof inventorySchema>;
export type InventoryPlatform = z.infer<typeof platform>;
export type InventoryFile = z.infer<typeof file>;
export type RegistryValue = z.infer<typeof registryValue>;
export type WmiInstance = Record<string, z.infer<typeof wmiValue>>;

/** Checks an inventory snapshot from outside; errors name the bad field. */
export function parseInventory(value: unknown, path = 'inventory'): Inventory {
  const result = inventorySchema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const where = [path, ...(issue?.path ?? []).map(String)].join('.');
  const what =
    issue?.code === 'unrecognized_keys'
      ? `unknown field ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}`
      : (issue?.message ?? 'invalid');
  throw invalidInput(`${where}: ${what}`, { path: where });
}
