/** The provider for "this machine" (`--inventory local`): by the platform we run on. */
import { invalidInput } from '../../errors.js';
import { LinuxProvider } from './linux.js';
import type { InventoryProvider } from './provider.js';
import { WindowsProvider } from './windows.js';

export function localProvider(platform: NodeJS.Platform = process.platform): InventoryProvider {
  if (platform === 'linux') return new LinuxProvider();
  if (platform === 'win32') return new WindowsProvider();
  throw invalidInput(`--inventory local: no inventory provider for ${platform} yet`, {
    field: 'inventory',
  });
}
