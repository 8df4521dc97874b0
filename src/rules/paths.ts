/**
 * Finding what a rule names in the inventory: file paths (with a CSIDL known folder in front),
 * registry keys, MSI product codes. Windows looks names up case-insensitively, so lookups on a
 * Windows inventory do too.
 */
import type { Inventory, InventoryFile, RegistryValue } from './inventory.js';

/**
 * Common CSIDL values (shlobj.h) and where they point on a default installation. The x86 entry
 * is the folder on 32-bit Windows, where the "(x86)" folders are the native ones.
 */
const CSIDL_FOLDERS: Readonly<Record<number, { x64: string; x86: string }>> = {
  0x14: same('C:\\Windows\\Fonts'), // CSIDL_FONTS
  0x16: same('C:\\ProgramData\\Microsoft\\Windows\\Start Menu'), // CSIDL_COMMON_STARTMENU
  0x17: same('C:\\ProgramData\\Microsoft\\Windows\\Start Menu\\Programs'), // CSIDL_COMMON_PROGRAMS
  0x23: same('C:\\ProgramData'), // CSIDL_COMMON_APPDATA
  0x24: same('C:\\Windows'), // CSIDL_WINDOWS
  0x25: same('C:\\Windows\\System32'), // CSIDL_SYSTEM
  0x26: same('C:\\Program Files'), // CSIDL_PROGRAM_FILES
  0x29: { x64: 'C:\\Windows\\SysWOW64', x86: 'C:\\Windows\\System32' }, // CSIDL_SYSTEMX86
  0x2a: { x64: 'C:\\Program Files (x86)', x86: 'C:\\Program Files' }, // CSIDL_PROGRAM_FILESX86
  0x2b: same('C:\\Program Files\\Common Files'), // CSIDL_PROGRAM_FILES_COMMON
  0x2c: {
    x64: 'C:\\Program Files (x86)\\Common Files',
    x86: 'C:\\Program Files\\Common Files',
  }, // CSIDL_PROGRAM_FILES_COMMONX86
  0x2e: same('C:\\Users\\Public\\Documents'), // CSIDL_COMMON_DOCUMENTS
};

function same(path: string): { x64: string; x86: string } {
  return { x64: path, x86: path };
}

export function isWindows(inventory: Inventory): boolean {
  return inventory.platform?.name.toLowerCase() === 'windows';
}

/** The full path a file rule names, or why it cannot be known. */
export function rulePath(
  path: string,
  csidl: number | undefined,
  inventory: Inventory,
): { path: string } | { unknown: string } {
  if (csidl === undefined) return { path };
  const folder = CSIDL_FOLDERS[csidl];
  if (folder === undefined) return { unknown: `CSIDL ${csidl} is not a known folder` };
  if (inventory.platform !== undefined && !isWindows(inventory)) {
    return {
      unknown: `CSIDL ${csidl} names a Windows folder on a ${inventory.platform.name} machine`,
    };
  }
  const architecture = inventory.platform?.architecture;
  if (folder.x64 !== folder.x86 && architecture === undefined) {
    return { unknown: `CSIDL ${csidl} depends on the processor architecture, not in inventory` };
  }
  const base = architecture === 'x86' || architecture === 'arm' ? folder.x86 : folder.x64;
  return { path: `${base}\\${path.replace(/^[\\/]+/, '')}` };
}

/** Windows paths: either slash, repeated separators and case do not matter. */
function windowsKey(path: string): string {
  return path
    .replace(/\//g, '\\')
    .replace(/(?<!^)\\{2,}/g, '\\')
    .toLowerCase();
}

const fileIndexes = new WeakMap<object, Map<string, InventoryFile>>();

export function findFile(inventory: Inventory, path: string): InventoryFile | undefined {
  const files = inventory.files ?? {};
  const exact = Object.prototype.hasOwnProperty.call(files, path) ? files[path] : undefined;
  if (exact !== undefined) return exact;
  if (!isWindows(inventory) && !/^[A-Za-z]:[\\/]|\\/.test(path)) return undefined;
  let index = fileIndexes.get(files);
  if (index === undefined) {
    index = new Map(Object.entries(files).map(([p, f]) => [windowsKey(p), f]));
    fileIndexes.set(files, index);
  }
  return index.get(windowsKey(path));
}

function registryKeyName(path: string): string {
  return windowsKey(path)
    .replace(/^hklm(?=\\|$)/, 'hkey_local_machine')
    .replace(/\\+$/, '');
}

const registryIndexes = new WeakMap<object, Map<string, Record<string, RegistryValue>>>();

/** The values of a registry key ("HKEY_LOCAL_MACHINE\\SOFTWARE\\X"), case-insensitively. */
export function findRegistryKey(
  inventory: Inventory,
  key: string,
): Record<string, RegistryValue> | undefined {
  const registry = inventory.registry ?? {};
  let index = registryIndexes.get(registry);
  if (index === undefined) {
    index = new Map(Object.entries(registry).map(([k, v]) => [registryKeyName(k), v]));
    registryIndexes.set(registry, index);
  }
  return index.get(registryKeyName(key));
}

/** A value of a key by name, case-insensitively ("" is the default value). */
export function findRegistryValue(
  values: Record<string, RegistryValue>,
  name: string,
): RegistryValue | undefined {
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(values)) {
    if (key.toLowerCase() === wanted) return value;
  }
  return undefined;
}

/**
 * The key a rule reads. RegType32 asks for the 32-bit view: on 64-bit Windows, SOFTWARE is
 * redirected to SOFTWARE\WOW6432Node there.
 */
export function registryPath(
  key: string,
  subkey: string,
  regType32: boolean | undefined,
  inventory: Inventory,
): { path: string } | { unknown: string } {
  const path = `${key}\\${subkey.replace(/^\\+/, '')}`;
  if (regType32 !== true) return { path };
  const architecture = inventory.platform?.architecture;
  if (architecture === undefined) {
    return { unknown: 'RegType32 needs the processor architecture, not in inventory' };
  }
  if (architecture === 'x86' || architecture === 'arm') return { path };
  const match = /^software\\(?!wow6432node(\\|$))/i.exec(subkey.replace(/^\\+/, ''));
  if (match === null) return { path };
  return { path: `${key}\\SOFTWARE\\WOW6432Node\\${subkey.replace(/^\\+/, '').slice(9)}` };
}

const msiIndexes = new WeakMap<object, Map<string, { version?: string; language?: number }>>();

const msiKey = (code: string): string => code.replace(/^\{|\}$/g, '').toLowerCase();

/**
 * An installed MSI product by its code, braces and case ignored. The index is built once per
 * inventory: a scan evaluates thousands of rules against the same machine.
 */
export function findMsiProduct(
  inventory: Inventory,
  productCode: string,
): { version?: string; language?: number } | undefined {
  const products = inventory.msiProducts ?? {};
  let index = msiIndexes.get(products);
  if (index === undefined) {
    index = new Map(Object.entries(products).map(([code, product]) => [msiKey(code), product]));
    msiIndexes.set(products, index);
  }
  return index.get(msiKey(productCode));
}
