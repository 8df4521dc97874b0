/**
 * The Windows provider, written against the Inventory interface and tested with recorded
 * command outputs (it cannot run on the build machines):
 * - platform: Win32_OperatingSystem and Win32_Processor through PowerShell Get-CimInstance;
 * - registry: `reg query <key> /reg:64` per key a rule names (the 32-bit view is asked for
 *   explicitly as SOFTWARE\WOW6432Node, see needs.ts);
 * - files: Get-Item (size, file version resource, times), CSIDL folders resolved as the
 *   evaluator resolves them;
 * - MSI products: the Windows Installer's uninstall registration of each product code
 *   (DisplayVersion, Language), in both registry views;
 * - WMI: Get-CimInstance of each class a WmiQuery names.
 */
import type { Architecture, Inventory } from '../../rules/index.js';
import { rulePath } from '../../rules/paths.js';
import type { CommandRunner } from './command.js';
import { systemRunner } from './command.js';
import { wmiKey, type InventoryProvider, type InventoryRequest } from './provider.js';
import { parseRegQuery, regExePath, type RegistryValues } from './windows-registry.js';
import { filesScript, platformScript, powershellArgs, wmiScript } from './windows-scripts.js';

export interface WindowsProviderOptions {
  run?: CommandRunner;
  /** Default "powershell.exe" (Windows PowerShell 5.1, present on every supported Windows). */
  powershell?: string;
}

const UNINSTALL = 'HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Uninstall';
const UNINSTALL_32 =
  'HKEY_LOCAL_MACHINE\\SOFTWARE\\WOW6432Node\\Microsoft\\Windows\\CurrentVersion\\Uninstall';

/** Win32_Processor.Architecture codes. */
const ARCHITECTURES: Readonly<Record<number, Architecture>> = {
  0: 'x86',
  5: 'arm',
  9: 'x64',
  12: 'arm64',
};

export class WindowsProvider implements InventoryProvider {
  readonly name = 'windows';
  private readonly run: CommandRunner;
  private readonly powershell: string;

  constructor(options: WindowsProviderOptions = {}) {
    this.run = options.run ?? systemRunner();
    this.powershell = options.powershell ?? 'powershell.exe';
  }

  async collect(request: InventoryRequest): Promise<Inventory> {
    const inventory: Inventory = {};
    const platform = await this.platform();
    if (platform !== undefined) inventory.platform = platform;
    if (request.registryKeys.length > 0) {
      const registry = await this.registry(request.registryKeys);
      if (registry !== undefined) inventory.registry = registry;
    }
    if (request.msiProducts.length > 0) {
      const products = await this.msiProducts(request.msiProducts);
      if (products !== undefined) inventory.msiProducts = products;
    }
    if (request.files.length > 0) {
      const files = await this.files(request, inventory);
      if (files !== undefined) inventory.files = files;
    }
    if (request.wmiClasses.length > 0) {
      const wmi = await this.wmi(request);
      if (wmi !== undefined) inventory.wmi = wmi;
    }
    return inventory;
  }

  private async powershellJson(script: string): Promise<unknown> {
    const result = await this.run(this.powershell, powershellArgs(script));
    if (result.exitCode !== 0) return undefined;
    try {
      return JSON.parse(result.stdout.replace(/^\uFEFF/, '').trim()) as unknown;
    } catch {
      return undefined;
    }
  }

  private async platform(): Promise<Inventory['platform']> {
    const raw = asRecord(await this.powershellJson(platformScript()));
    if (raw === undefined || typeof raw['Version'] !== 'string') return undefined;
    const platform: NonNullable<Inventory['platform']> = {
      name: 'windows',
      version: raw['Version'],
    };
    const uint = (v: unknown) =>
      typeof v === 'number' && Number.isInteger(v) && v >= 0 ? v : undefined;
    const productType = uint(raw['ProductType']);
    if (productType !== undefined) platform.productType = productType;
    const spMajor = uint(raw['ServicePackMajorVersion']);
    if (spMajor !== undefined) platform.servicePackMajor = spMajor;
    const spMinor = uint(raw['ServicePackMinorVersion']);
    if (spMinor !== undefined) platform.servicePackMinor = spMinor;
    const code = uint(raw['Architecture']);
    const architecture = code === undefined ? undefined : ARCHITECTURES[code];
    if (architecture !== undefined) platform.architecture = architecture;
    return platform;
  }

  /** A key that reg.exe cannot find is absent; any other failure leaves the section out. */
  private async registry(keys: readonly string[]): Promise<Inventory['registry']> {
    const registry: Record<string, RegistryValues> = {};
    for (const key of keys) {
      const values = await this.queryKey(key);
      if (values === 'error') return undefined;
      if (values !== 'absent') registry[key] = values;
    }
    return registry;
  }

  private async queryKey(key: string): Promise<RegistryValues | 'absent' | 'error'> {
    const result = await this.run('reg', ['query', regExePath(key), '/reg:64']);
    if (result.exitCode === 0) return parseRegQuery(result.stdout);
    // reg.exe exits 1 with "ERROR: The system was unable to find the specified registry key".
    if (result.exitCode === 1 && /unable to find/i.test(result.stderr)) return 'absent';
    return 'error';
  }

  private async msiProducts(codes: readonly string[]): Promise<Inventory['msiProducts']> {
    const products: NonNullable<Inventory['msiProducts']> = {};
    for (const code of codes) {
      for (const base of [UNINSTALL, UNINSTALL_32]) {
        const values = await this.queryKey(`${base}\\${code}`);
        if (values === 'error') return undefined;
        if (values === 'absent' || values['WindowsInstaller']?.data !== 1) continue;
        const product: { version?: string; language?: number } = {};
        const version = values['DisplayVersion'];
        if (version?.type === 'REG_SZ' && version.data !== '') product.version = version.data;
        const language = values['Language'];
        if (language?.type === 'REG_DWORD') product.language = language.data;
        products[code] = product;
        break;
      }
    }
    return products;
  }

  private async files(request: InventoryRequest, known: Inventory): Promise<Inventory['files']> {
    const paths = new Set<string>();
    for (const file of request.files) {
      const resolved = rulePath(file.path, file.csidl, known);
      if ('path' in resolved) paths.add(resolved.path);
    }
    if (paths.size === 0) return {};
    const raw = await this.powershellJson(filesScript([...paths]));
    if (!Array.isArray(raw)) return undefined;
    const files: NonNullable<Inventory['files']> = {};
    for (const item of raw) {
      const entry = asRecord(item);
      if (entry === undefined || typeof entry['Path'] !== 'string') continue;
      const file: NonNullable<Inventory['files']>[string] = {};
      if (typeof entry['Size'] === 'number' && entry['Size'] >= 0) file.size = entry['Size'];
      if (typeof entry['Version'] === 'string' && entry['Version'] !== '')
        file.version = entry['Version'];
      if (typeof entry['Created'] === 'string') file.created = entry['Created'];
      if (typeof entry['Modified'] === 'string') file.modified = entry['Modified'];
      files[entry['Path']] = file;
    }
    return files;
  }

  private async wmi(request: InventoryRequest): Promise<Inventory['wmi']> {
    const raw = asRecord(await this.powershellJson(wmiScript(request.wmiClasses)));
    if (raw === undefined) return undefined;
    const wmi: NonNullable<Inventory['wmi']> = {};
    request.wmiClasses.forEach((wanted, i) => {
      const instances = raw[String(i)];
      // ConvertTo-Json writes a one-element array as the element itself.
      const list = Array.isArray(instances)
        ? instances
        : instances === undefined
          ? []
          : [instances];
      if (instances === undefined) return;
      wmi[wmiKey(wanted)] = list.map(scalarProperties);
    });
    return wmi;
  }
}

function asRecord(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

/** WQL compares scalars; arrays, dates and embedded objects are dropped. */
function scalarProperties(value: unknown): Record<string, string | number | boolean | null> {
  const out: Record<string, string | number | boolean | null> = {};
  for (const [key, v] of Object.entries(asRecord(value) ?? {})) {
    if (key === '__proto__') continue;
    if (v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') {
      out[key] = v;
    }
  }
  return out;
}
