/**
 * What a set of rule trees asks of the machine, so a provider collects only that: the files,
 * registry keys, MSI products, WMI classes and facts that base rules name. Platform, version
 * and processor are always collected (cheap, and nearly every rule set needs them).
 */
// The rule engine's modules by name, not its index: the index also loads the XML reader
// (xml2js), which `upcat rules eval` of a JSON rule and the agent's inventory never need.
import type { Rule } from '../../rules/model.js';
import { parseWql } from '../../rules/wql.js';
import type { FileRequest, InventoryRequest, WmiClassRequest } from './provider.js';

export function requestFor(rules: readonly (Rule | undefined)[]): InventoryRequest {
  const files = new Map<string, FileRequest>();
  const registryKeys = new Set<string>();
  const msiProducts = new Set<string>();
  const wmiClasses = new Map<string, WmiClassRequest>();
  const facts = new Set<string>();

  const visit = (rule: Rule): void => {
    switch (rule.kind) {
      case 'And':
      case 'Or':
        rule.rules.forEach(visit);
        return;
      case 'Not':
        visit(rule.rule);
        return;
      case 'FileExists':
      case 'FileVersion':
      case 'FileSize': {
        const file: FileRequest = { path: rule.Path };
        if (rule.Csidl !== undefined) file.csidl = rule.Csidl;
        files.set(`${rule.Csidl ?? ''}|${rule.Path}`, file);
        return;
      }
      case 'RegKeyExists':
      case 'RegValueExists':
      case 'RegDword':
      case 'RegSz':
      case 'RegSzToVersion':
        for (const key of registryViews(rule.Key, rule.Subkey, rule.RegType32 === true)) {
          registryKeys.add(key);
        }
        return;
      case 'MsiProductInstalled':
        msiProducts.add(braced(rule.ProductCode));
        return;
      case 'WmiQuery': {
        const parsed = parseWql(rule.WqlQuery);
        if (!parsed.ok) return; // outside the subset: unknown whatever we collect
        const namespace = (rule.Namespace ?? 'root\\cimv2')
          .replace(/^\\\\[^\\]+\\/, '')
          .toLowerCase();
        const className = parsed.query.className;
        wmiClasses.set(`${namespace}:${className.toLowerCase()}`, { namespace, className });
        return;
      }
      case 'Fact':
        facts.add(rule.Name);
        return;
      default:
        return;
    }
  };
  for (const rule of rules) if (rule !== undefined) visit(rule);
  return {
    files: [...files.values()],
    registryKeys: [...registryKeys],
    msiProducts: [...msiProducts],
    wmiClasses: [...wmiClasses.values()],
    facts: [...facts],
  };
}

/**
 * The key a registry rule reads; with RegType32 also the 32-bit view of SOFTWARE (which on
 * 64-bit Windows is SOFTWARE\WOW6432Node), since which one applies depends on the machine.
 */
function registryViews(key: string, subkey: string, regType32: boolean): string[] {
  const sub = subkey.replace(/^\\+/, '').replace(/\\+$/, '');
  const plain = sub === '' ? key : `${key}\\${sub}`;
  if (!regType32) return [plain];
  const match = /^software(\\(?!wow6432node(\\|$))|$)/i.exec(sub);
  if (match === null) return [plain];
  return [plain, `${key}\\SOFTWARE\\WOW6432Node${sub.slice(8)}`];
}

function braced(code: string): string {
  const bare = code.replace(/^\{|\}$/g, '').toUpperCase();
  return `{${bare}}`;
}
