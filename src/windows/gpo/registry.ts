/**
 * The registry values a Group Policy export sets, in one neutral form that the Registry.pol,
 * .reg and PowerShell writers all render: the three renderings of one list cannot disagree.
 * Keys carry no hive; every value here is a machine (HKEY_LOCAL_MACHINE) value.
 */
export type RegistryData =
  | { type: 'REG_SZ'; data: string }
  | { type: 'REG_DWORD'; data: number }
  | { type: 'REG_BINARY'; data: Buffer };

export type RegistryEntry = { key: string; value: string } & RegistryData;

/** Registry type numbers ([MS-GPREG] 2.2.1 "Type"; winnt.h REG_*). */
export const REG_TYPE_CODES = { REG_SZ: 1, REG_BINARY: 3, REG_DWORD: 4 } as const;

export const HKLM = 'HKEY_LOCAL_MACHINE';

export const sz = (key: string, value: string, data: string): RegistryEntry => ({
  key,
  value,
  type: 'REG_SZ',
  data,
});

export const dword = (key: string, value: string, data: number): RegistryEntry => {
  if (!Number.isInteger(data) || data < 0 || data > 0xffffffff)
    throw new RangeError(`${key}\\${value}: ${data} is not a DWORD`);
  return { key, value, type: 'REG_DWORD', data };
};

export const binary = (key: string, value: string, data: Buffer): RegistryEntry => ({
  key,
  value,
  type: 'REG_BINARY',
  data,
});

/** The entries grouped by key, keys in first-seen order (how .reg and .ps1 lay them out). */
export function byKey(entries: readonly RegistryEntry[]): Map<string, RegistryEntry[]> {
  const groups = new Map<string, RegistryEntry[]>();
  for (const e of entries) {
    const list = groups.get(e.key);
    if (list === undefined) groups.set(e.key, [e]);
    else list.push(e);
  }
  return groups;
}
