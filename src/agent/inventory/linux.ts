/**
 * The Linux provider: the machine itself, read from the file system and the package managers.
 * - platform: "linux", the kernel release as its version, the processor architecture;
 * - facts: /etc/os-release as os.id, os.version (VERSION_ID), os.name, os.version_codename,
 *   os.id_like, plus package versions (linux-packages.ts) for the names rules ask about;
 * - files: size (and times) of each path a rule names; Linux files have no version resource;
 * - wmi: the DMI vendor, model and BIOS of /sys/class/dmi/id as Win32_ComputerSystem,
 *   Win32_BIOS and Win32_BaseBoard instances, so that model-targeted WmiQuery rules work here.
 * Registry and MSI sections are left out: rules about them are unknown on Linux.
 */
import { readFile, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Architecture, Inventory } from '../../rules/index.js';
import { systemRunner, type CommandRunner } from './command.js';
import { packageFacts } from './linux-packages.js';
import { wmiKey, type InventoryProvider, type InventoryRequest } from './provider.js';

export interface LinuxProviderOptions {
  /** Prefix for every path read (tests point it at a fake root); default "/". */
  root?: string;
  run?: CommandRunner;
  /** `uname -m` and `uname -r`; default from node:os. */
  machine?: string;
  release?: string;
}

type WmiInstance = Record<string, string | number | boolean | null>;

export class LinuxProvider implements InventoryProvider {
  readonly name = 'linux';
  private readonly root: string;
  private readonly run: CommandRunner;
  private readonly machine: string;
  private readonly release: string;

  constructor(options: LinuxProviderOptions = {}) {
    this.root = options.root ?? '/';
    this.run = options.run ?? systemRunner();
    this.machine = options.machine ?? os.machine();
    this.release = options.release ?? os.release();
  }

  async collect(request: InventoryRequest): Promise<Inventory> {
    const inventory: Inventory = { platform: this.platform() };
    const osRelease = parseOsRelease(await this.readText('/etc/os-release'));
    inventory.facts = {
      ...osFacts(osRelease),
      'kernel.release': this.release,
      ...(await packageFacts(request.facts, this.run)),
    };
    inventory.files = await this.files(request);
    if (request.wmiClasses.length > 0) inventory.wmi = await this.wmi(request);
    return inventory;
  }

  private platform(): NonNullable<Inventory['platform']> {
    const platform: NonNullable<Inventory['platform']> = { name: 'linux' };
    const version = /^\d+(\.\d+){0,3}/.exec(this.release)?.[0];
    if (version !== undefined) platform.version = version;
    const architecture = architectureOf(this.machine);
    if (architecture !== undefined) platform.architecture = architecture;
    return platform;
  }

  /** Absolute paths only: a CSIDL or a Windows path names nothing on this machine. */
  private async files(request: InventoryRequest): Promise<NonNullable<Inventory['files']>> {
    const files: NonNullable<Inventory['files']> = {};
    for (const file of request.files) {
      if (file.csidl !== undefined || !file.path.startsWith('/')) continue;
      try {
        const info = await stat(this.resolve(file.path));
        if (!info.isFile()) continue;
        files[file.path] = {
          size: info.size,
          created: info.birthtime.toISOString(),
          modified: info.mtime.toISOString(),
        };
      } catch {
        // Not there, or not readable by us: either way the rule must not see it.
      }
    }
    return files;
  }

  private async wmi(request: InventoryRequest): Promise<NonNullable<Inventory['wmi']>> {
    const dmi = await this.readDmi();
    const classes = dmiClasses(dmi);
    const wmi: NonNullable<Inventory['wmi']> = {};
    for (const wanted of request.wmiClasses) {
      if (wanted.namespace !== 'root\\cimv2') continue;
      const instances = classes[wanted.className.toLowerCase()];
      // No DMI data (a container, say) is "cannot tell", not "no instance matches".
      if (instances !== undefined && instances.length > 0) wmi[wmiKey(wanted)] = instances;
    }
    return wmi;
  }

  private async readDmi(): Promise<Record<string, string>> {
    const fields = [
      'sys_vendor',
      'product_name',
      'product_family',
      'product_version',
      'product_sku',
      'bios_vendor',
      'bios_version',
      'bios_date',
      'board_vendor',
      'board_name',
      'board_version',
    ];
    const dmi: Record<string, string> = {};
    for (const field of fields) {
      const text = await this.readText(`/sys/class/dmi/id/${field}`);
      if (text !== undefined && text.trim() !== '') dmi[field] = text.trim();
    }
    return dmi;
  }

  private resolve(file: string): string {
    return path.join(this.root, file);
  }

  private async readText(file: string): Promise<string | undefined> {
    try {
      return await readFile(this.resolve(file), 'utf8');
    } catch {
      return undefined;
    }
  }
}

/** `uname -m` names to the rule vocabulary's. */
export function architectureOf(machine: string): Architecture | undefined {
  if (/^(x86_64|amd64)$/i.test(machine)) return 'x64';
  if (/^(i[3-6]86|x86)$/i.test(machine)) return 'x86';
  if (/^(aarch64|arm64)$/i.test(machine)) return 'arm64';
  if (/^arm/i.test(machine)) return 'arm';
  return undefined;
}

/** os-release(5): KEY=value lines, values optionally quoted with shell escapes. */
export function parseOsRelease(text: string | undefined): Record<string, string> {
  const values: Record<string, string> = {};
  for (const line of (text ?? '').split('\n')) {
    const match = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (match === null) continue;
    let value = match[2] as string;
    const quote = value[0];
    if ((quote === '"' || quote === "'") && value.endsWith(quote) && value.length >= 2) {
      value = value.slice(1, -1);
      if (quote === '"') value = value.replace(/\\(["\\$`])/g, '$1');
    }
    values[match[1] as string] = value;
  }
  return values;
}

function osFacts(release: Record<string, string>): Record<string, string> {
  const facts: Record<string, string> = {};
  const map: [string, string][] = [
    ['ID', 'os.id'],
    ['VERSION_ID', 'os.version'],
    ['NAME', 'os.name'],
    ['PRETTY_NAME', 'os.pretty_name'],
    ['VERSION_CODENAME', 'os.version_codename'],
    ['ID_LIKE', 'os.id_like'],
  ];
  for (const [key, fact] of map) {
    const value = release[key];
    if (value !== undefined && value !== '') facts[fact] = value;
  }
  return facts;
}

/** The WMI view of DMI (Win32_ComputerSystem / Win32_BIOS / Win32_BaseBoard property names). */
export function dmiClasses(dmi: Record<string, string>): Record<string, WmiInstance[]> {
  const pick = (fields: [string, string][]): WmiInstance[] => {
    const instance: WmiInstance = {};
    for (const [property, field] of fields) {
      const value = dmi[field];
      if (value !== undefined) instance[property] = value;
    }
    return Object.keys(instance).length === 0 ? [] : [instance];
  };
  const bios = pick([
    ['Manufacturer', 'bios_vendor'],
    ['SMBIOSBIOSVersion', 'bios_version'],
    ['Version', 'bios_version'],
    ['ReleaseDate', 'bios_date'],
  ]);
  return {
    win32_computersystem: pick([
      ['Manufacturer', 'sys_vendor'],
      ['Model', 'product_name'],
      ['SystemFamily', 'product_family'],
      ['SystemSKUNumber', 'product_sku'],
    ]),
    win32_bios: bios,
    win32_baseboard: pick([
      ['Manufacturer', 'board_vendor'],
      ['Product', 'board_name'],
      ['Version', 'board_version'],
    ]),
  };
}
