/** Inventory providers for the agent and `upcat rules eval` (issue 4, item 4). */
export type { CommandResult, CommandRunner } from './command.js';
export { systemRunner } from './command.js';
export { LinuxProvider, type LinuxProviderOptions } from './linux.js';
export { requestFor } from './needs.js';
export {
  EMPTY_REQUEST,
  type FileRequest,
  type InventoryProvider,
  type InventoryRequest,
  type WmiClassRequest,
} from './provider.js';
export { SnapshotProvider } from './snapshot.js';
export { WindowsProvider, type WindowsProviderOptions } from './windows.js';
export { localProvider } from './local.js';
