/**
 * Reading `reg query <key> /reg:64` output (Windows' reg.exe). The value lines of the key
 * itself are indented by four spaces: `    <name>    <type>    <data>`; subkeys are listed as
 * full paths and are not needed (each key a rule names is queried on its own).
 */
import type { RegistryValue } from '../../rules/inventory.js';

export type RegistryValues = Record<string, RegistryValue>;

/** Parses the values of one queried key; an unset default value is left out. */
export function parseRegQuery(stdout: string): RegistryValues {
  const values: RegistryValues = {};
  for (const line of stdout.split(/\r?\n/)) {
    const match = /^ {4}(.*?) {4}(REG_[A-Z_]+)(?: {4}(.*))?$/.exec(line);
    if (match === null) continue;
    const rawName = match[1] as string;
    const type = match[2] as string;
    const data = match[3] ?? '';
    const name = rawName === '(Default)' ? '' : rawName;
    if (name === '' && data === '(value not set)') continue;
    const value = registryValue(type, data);
    if (value !== undefined) values[name] = value;
  }
  return values;
}

function registryValue(type: string, data: string): RegistryValue | undefined {
  switch (type) {
    case 'REG_SZ':
    case 'REG_EXPAND_SZ':
      return { type, data };
    case 'REG_DWORD':
    case 'REG_QWORD': {
      // reg.exe prints these in hex ("0x5"); BigInt keeps a QWORD exact until the range check.
      if (!/^0x[0-9a-fA-F]+$/.test(data)) return undefined;
      const n = BigInt(data);
      return n > BigInt(Number.MAX_SAFE_INTEGER) ? undefined : { type, data: Number(n) };
    }
    case 'REG_MULTI_SZ':
      // reg.exe joins the strings with a literal "\0".
      return { type, data: data === '' ? [] : data.split('\\0').filter((s) => s !== '') };
    case 'REG_BINARY':
    case 'REG_FULL_RESOURCE_DESCRIPTOR':
      return /^([0-9A-Fa-f]{2})*$/.test(data) ? { type, data } : undefined;
    default:
      return undefined;
  }
}

/** reg.exe takes HKLM\...; the inventory keeps the long root name. */
export function regExePath(key: string): string {
  return key.replace(/^HKEY_LOCAL_MACHINE(?=\\|$)/i, 'HKLM');
}
