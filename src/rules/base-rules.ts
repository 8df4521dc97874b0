/**
 * Evaluating base rules against an inventory. Each answers true, false or 'unknown' with a
 * short reason; 'unknown' whenever the inventory lacks what the rule needs (DESIGN.md §8).
 */
import type { Inventory } from './inventory.js';
import type {
  FileExistsRule,
  FileSizeRule,
  FileVersionRule,
  MsiProductInstalledRule,
  RegDwordRule,
  RegKeyExistsRule,
  RegSzRule,
  RegSzToVersionRule,
  RegValueExistsRule,
  StringComparison,
  WmiQueryRule,
} from './model.js';
import {
  findFile,
  findMsiProduct,
  findRegistryKey,
  findRegistryValue,
  registryPath,
  rulePath,
} from './paths.js';
import { triAnd, type Tri } from './tri.js';
import { compareNumbers, compareVersions, satisfies, versionSatisfies } from './version.js';
import { evaluateWql, parseWql } from './wql.js';

export interface Outcome {
  value: Tri;
  reason: string;
}

const unknown = (reason: string): Outcome => ({ value: 'unknown', reason });
const yes = (reason: string): Outcome => ({ value: true, reason });
const no = (reason: string): Outcome => ({ value: false, reason });
const answer = (value: boolean, reason: string): Outcome => ({ value, reason });

type FileRule = FileExistsRule | FileVersionRule | FileSizeRule;

function locateFile(rule: FileRule, inventory: Inventory) {
  if (inventory.files === undefined) return unknown('inventory has no files section');
  const resolved = rulePath(rule.Path, rule.Csidl, inventory);
  if ('unknown' in resolved) return unknown(resolved.unknown);
  const file = findFile(inventory, resolved.path);
  if (file === undefined) return no(`file ${resolved.path} does not exist`);
  return { path: resolved.path, file };
}

export function fileExists(rule: FileExistsRule, inventory: Inventory): Outcome {
  const found = locateFile(rule, inventory);
  if ('value' in found) return found;
  const { path, file } = found;
  const checks: Outcome[] = [];
  const check = <T>(
    wanted: T | undefined,
    actual: T | undefined,
    what: string,
    same: (a: T, b: T) => boolean,
  ) => {
    if (wanted === undefined) return;
    if (actual === undefined) checks.push(unknown(`inventory has no ${what} for ${path}`));
    else
      checks.push(
        answer(same(actual, wanted), `${path} ${what} ${String(actual)}, wanted ${String(wanted)}`),
      );
  };
  check(rule.Version, file.version, 'version', (a, b) => compareVersions(a, b) === 0);
  check(rule.Size, file.size, 'size', (a, b) => a === b);
  check(rule.Created, file.created, 'creation date', (a, b) => Date.parse(a) === Date.parse(b));
  check(
    rule.Modified,
    file.modified,
    'modification date',
    (a, b) => Date.parse(a) === Date.parse(b),
  );
  check(rule.Language, file.language, 'language', (a, b) => a === b);
  if (checks.length === 0) return yes(`file ${path} exists`);
  const value = triAnd(checks.map((c) => c.value));
  return {
    value,
    reason: (checks.find((c) => c.value === value) ?? (checks[0] as Outcome)).reason,
  };
}

export function fileVersion(rule: FileVersionRule, inventory: Inventory): Outcome {
  const found = locateFile(rule, inventory);
  if ('value' in found) return found;
  const version = found.file.version;
  if (version === undefined) return unknown(`inventory has no version for ${found.path}`);
  const result = versionSatisfies(version, rule.Comparison, rule.Version);
  const reason = `${found.path} version ${version} ${rule.Comparison} ${rule.Version}`;
  return result === undefined ? no(`${reason}: not a version`) : answer(result, reason);
}

export function fileSize(rule: FileSizeRule, inventory: Inventory): Outcome {
  const found = locateFile(rule, inventory);
  if ('value' in found) return found;
  const size = found.file.size;
  if (size === undefined) return unknown(`inventory has no size for ${found.path}`);
  const reason = `${found.path} size ${size} ${rule.Comparison} ${rule.Size}`;
  return answer(satisfies(compareNumbers(size, rule.Size), rule.Comparison), reason);
}

type RegistryRule =
  RegKeyExistsRule | RegValueExistsRule | RegDwordRule | RegSzRule | RegSzToVersionRule;

function locateKey(rule: RegistryRule, inventory: Inventory) {
  if (inventory.registry === undefined) return unknown('inventory has no registry section');
  const resolved = registryPath(rule.Key, rule.Subkey, rule.RegType32, inventory);
  if ('unknown' in resolved) return unknown(resolved.unknown);
  const values = findRegistryKey(inventory, resolved.path);
  if (values === undefined) return no(`registry key ${resolved.path} does not exist`);
  return { path: resolved.path, values };
}

export function regKeyExists(rule: RegKeyExistsRule, inventory: Inventory): Outcome {
  const found = locateKey(rule, inventory);
  return 'value' in found ? found : yes(`registry key ${found.path} exists`);
}

export function regValueExists(rule: RegValueExistsRule, inventory: Inventory): Outcome {
  const found = locateKey(rule, inventory);
  if ('value' in found) return found;
  const name = rule.Value ?? '';
  const value = findRegistryValue(found.values, name);
  const where = `${found.path}\\${name === '' ? '(default)' : name}`;
  if (value === undefined) return no(`registry value ${where} does not exist`);
  if (rule.Type !== undefined && value.type !== rule.Type) {
    return no(`registry value ${where} is ${value.type}, not ${rule.Type}`);
  }
  return yes(`registry value ${where} exists`);
}

function locateValue(
  rule: RegDwordRule | RegSzRule | RegSzToVersionRule,
  inventory: Inventory,
  type: string,
) {
  const found = locateKey(rule, inventory);
  if ('value' in found) return found;
  const where = `${found.path}\\${rule.Value === '' ? '(default)' : rule.Value}`;
  const value = findRegistryValue(found.values, rule.Value);
  if (value === undefined) return no(`registry value ${where} does not exist`);
  if (value.type !== type) return no(`registry value ${where} is ${value.type}, not ${type}`);
  return { where, data: value.data };
}

export function regDword(rule: RegDwordRule, inventory: Inventory): Outcome {
  const found = locateValue(rule, inventory, 'REG_DWORD');
  if ('value' in found) return found;
  const data = Number(found.data);
  const reason = `${found.where} = ${data} ${rule.Comparison} ${rule.Data}`;
  return answer(satisfies(compareNumbers(data, rule.Data), rule.Comparison), reason);
}

/** Exact (case-sensitive) string comparisons, as bt:StringComparison names them. */
function compareStrings(actual: string, comparison: StringComparison, wanted: string): boolean {
  switch (comparison) {
    case 'EqualTo':
      return actual === wanted;
    case 'BeginsWith':
      return actual.startsWith(wanted);
    case 'Contains':
      return actual.includes(wanted);
    case 'EndsWith':
      return actual.endsWith(wanted);
  }
}

export function regSz(rule: RegSzRule, inventory: Inventory): Outcome {
  const found = locateValue(rule, inventory, 'REG_SZ');
  if ('value' in found) return found;
  const data = String(found.data);
  const reason = `${found.where} = ${JSON.stringify(data)} ${rule.Comparison} ${JSON.stringify(rule.Data)}`;
  return answer(compareStrings(data, rule.Comparison, rule.Data), reason);
}

export function regSzToVersion(rule: RegSzToVersionRule, inventory: Inventory): Outcome {
  const found = locateValue(rule, inventory, 'REG_SZ');
  if ('value' in found) return found;
  const data = String(found.data);
  const result = versionSatisfies(data, rule.Comparison, rule.Data);
  const reason = `${found.where} = ${JSON.stringify(data)} ${rule.Comparison} ${rule.Data}`;
  return result === undefined ? no(`${reason}: not a version`) : answer(result, reason);
}

export function msiProductInstalled(rule: MsiProductInstalledRule, inventory: Inventory): Outcome {
  if (inventory.msiProducts === undefined) return unknown('inventory has no msiProducts section');
  const product = findMsiProduct(inventory, rule.ProductCode);
  if (product === undefined) return no(`MSI product ${rule.ProductCode} is not installed`);
  const checks: Outcome[] = [];
  const version = product.version;
  const range = (bound: string | undefined, exclude: boolean | undefined, above: boolean) => {
    if (bound === undefined) return;
    if (version === undefined)
      return checks.push(unknown(`inventory has no version for ${rule.ProductCode}`));
    const order = compareVersions(version, bound);
    if (order === undefined)
      return checks.push(no(`MSI product version ${version} is not a version`));
    const ok = order === 0 ? exclude !== true : above ? order > 0 : order < 0;
    return checks.push(
      answer(ok, `MSI product version ${version}, ${above ? 'min' : 'max'} ${bound}`),
    );
  };
  range(rule.VersionMin, rule.ExcludeVersionMin, true);
  range(rule.VersionMax, rule.ExcludeVersionMax, false);
  if (rule.Language !== undefined) {
    checks.push(
      product.language === undefined
        ? unknown(`inventory has no language for ${rule.ProductCode}`)
        : answer(product.language === rule.Language, `MSI product language ${product.language}`),
    );
  }
  const value = triAnd(checks.map((c) => c.value));
  const decisive = checks.find((c) => c.value === value);
  return { value, reason: decisive?.reason ?? `MSI product ${rule.ProductCode} is installed` };
}

/** WMI classes of root\cimv2 are keyed by class name; others as "namespace:Class". */
export function wmiQuery(rule: WmiQueryRule, inventory: Inventory): Outcome {
  if (inventory.wmi === undefined) return unknown('inventory has no wmi section');
  const parsed = parseWql(rule.WqlQuery);
  if (!parsed.ok) return unknown(`WQL outside the supported subset: ${parsed.reason}`);
  const namespace = (rule.Namespace ?? 'root\\cimv2').replace(/^\\\\[^\\]+\\/, '').toLowerCase();
  const className = parsed.query.className.toLowerCase();
  const wanted =
    namespace === 'root\\cimv2'
      ? [className, `${namespace}:${className}`]
      : [`${namespace}:${className}`];
  const entry = Object.entries(inventory.wmi).find(([key]) => wanted.includes(key.toLowerCase()));
  const where = `${rule.Namespace ?? 'root\\cimv2'}:${parsed.query.className}`;
  if (entry === undefined) return unknown(`inventory has no WMI class ${where}`);
  const value = evaluateWql(parsed.query, entry[1]);
  const count = entry[1].length;
  return {
    value,
    reason: `${where}: ${count} instance(s), query ${value === true ? 'matches' : value === false ? 'matches none' : 'cannot tell'}`,
  };
}
