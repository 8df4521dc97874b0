/**
 * The Inventory seam of the agent (issue 4, item 4): a provider answers what the rules being
 * evaluated ask about and returns an inventory snapshot (DESIGN.md §8). Providers may be lazy:
 * a section they return is complete for what was asked (a requested file that is not listed
 * does not exist), and a section they cannot collect is left out, so the rules that need it
 * evaluate to unknown, never to a guess.
 */
import type { Inventory } from '../../rules/index.js';

/** A file rule's path as written, with its known folder (CSIDL) when it has one. */
export interface FileRequest {
  path: string;
  csidl?: number;
}

/** A WMI class in a namespace ("root\\cimv2" by default, lower-cased). */
export interface WmiClassRequest {
  namespace: string;
  className: string;
}

/** What a rule set needs to know of the machine (see needs.ts). */
export interface InventoryRequest {
  files: FileRequest[];
  /** Full key paths, "HKEY_LOCAL_MACHINE\\SOFTWARE\\...", both registry views when asked. */
  registryKeys: string[];
  /** Product codes in braces, upper case. */
  msiProducts: string[];
  wmiClasses: WmiClassRequest[];
  /** Fact names, such as "os.id" or "dpkg.curl". */
  facts: string[];
}

export interface InventoryProvider {
  /** "snapshot", "linux", "windows": for messages. */
  readonly name: string;
  collect(request: InventoryRequest): Promise<Inventory>;
}

/** The inventory key of a WMI class: root\cimv2 classes alone, others "namespace:Class". */
export function wmiKey(request: WmiClassRequest): string {
  return request.namespace === 'root\\cimv2'
    ? request.className
    : `${request.namespace}:${request.className}`;
}

export const EMPTY_REQUEST: Readonly<InventoryRequest> = Object.freeze({
  files: [],
  registryKeys: [],
  msiProducts: [],
  wmiClasses: [],
  facts: [],
});
