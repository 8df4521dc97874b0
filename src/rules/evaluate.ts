/**
 * The evaluator: a rule tree over an inventory, in three-valued (Kleene) logic, with a "why"
 * tree that says which rule decided each node. Never throws for a well-formed rule: whatever
 * the inventory cannot answer is 'unknown'. Applicability follows DESIGN.md §2: installable,
 * not installed, prerequisites installed; an unknown anywhere means "not applicable".
 */
import {
  fileExists,
  fileSize,
  fileVersion,
  msiProductInstalled,
  regDword,
  regKeyExists,
  regSz,
  regSzToVersion,
  regValueExists,
  wmiQuery,
  type Outcome,
} from './base-rules.js';
import type { Inventory } from './inventory.js';
import type { Rule } from './model.js';
import { fact, platform, processor, windowsVersion } from './system-rules.js';
import { triAnd, triNot, triOr, type Tri } from './tri.js';

export type { Tri } from './tri.js';

export interface Why {
  /** Where the node is, e.g. "isInstallable.And[1].FileVersion". */
  path: string;
  /** Element name of the rule (And, FileVersion...), or what was evaluated. */
  rule: string;
  value: Tri;
  reason: string;
  children?: Why[];
}

export interface Evaluation {
  value: Tri;
  why: Why;
}

export function evaluateRule(rule: Rule, inventory: Inventory, path = 'rule'): Evaluation {
  const why = evaluateNode(rule, inventory, path);
  return { value: why.value, why };
}

function evaluateNode(rule: Rule, inventory: Inventory, parent: string): Why {
  const path = `${parent}.${rule.kind}`;
  switch (rule.kind) {
    case 'And':
    case 'Or': {
      const children = rule.rules.map((r, i) => evaluateNode(r, inventory, `${path}[${i}]`));
      const value = (rule.kind === 'And' ? triAnd : triOr)(children.map((c) => c.value));
      return {
        path,
        rule: rule.kind,
        value,
        reason: decidedBy(rule.kind, value, children),
        children,
      };
    }
    case 'Not': {
      const child = evaluateNode(rule.rule, inventory, path);
      const value = triNot(child.value);
      return {
        path,
        rule: 'Not',
        value,
        reason: `${child.rule} is ${child.value}`,
        children: [child],
      };
    }
    case 'True':
    case 'False':
      return { path, rule: rule.kind, value: rule.kind === 'True', reason: 'by definition' };
    case 'Unsupported':
      return {
        path,
        rule: 'Unsupported',
        value: 'unknown',
        reason: `element ${rule.element.name} is not supported`,
      };
    default: {
      const outcome = evaluateBase(rule, inventory);
      return { path, rule: rule.kind, value: outcome.value, reason: outcome.reason };
    }
  }
}

function evaluateBase(
  rule: Exclude<Rule, { kind: 'And' | 'Or' | 'Not' | 'True' | 'False' | 'Unsupported' }>,
  inventory: Inventory,
): Outcome {
  switch (rule.kind) {
    case 'FileExists':
      return fileExists(rule, inventory);
    case 'FileVersion':
      return fileVersion(rule, inventory);
    case 'FileSize':
      return fileSize(rule, inventory);
    case 'RegKeyExists':
      return regKeyExists(rule, inventory);
    case 'RegValueExists':
      return regValueExists(rule, inventory);
    case 'RegDword':
      return regDword(rule, inventory);
    case 'RegSz':
      return regSz(rule, inventory);
    case 'RegSzToVersion':
      return regSzToVersion(rule, inventory);
    case 'WindowsVersion':
      return windowsVersion(rule, inventory);
    case 'Processor':
      return processor(rule, inventory);
    case 'Platform':
      return platform(rule, inventory);
    case 'MsiProductInstalled':
      return msiProductInstalled(rule, inventory);
    case 'WmiQuery':
      return wmiQuery(rule, inventory);
    case 'Fact':
      return fact(rule, inventory);
  }
}

/** Names the child that settled an And / Or (the first one whose value is the result). */
function decidedBy(kind: 'And' | 'Or', value: Tri, children: Why[]): string {
  const neutral = kind === 'And' ? true : false;
  if (value === neutral) return `every rule is ${String(neutral)}`;
  const index = children.findIndex((c) => c.value === value);
  const child = children[index] as Why;
  return `${kind}[${index}] (${child.rule}) is ${String(value)}`;
}

/** IsInstalled absent: the update cannot detect itself, so it is never installed. */
export function evaluateIsInstalled(rule: Rule | undefined, inventory: Inventory): Evaluation {
  if (rule === undefined)
    return absent('isInstalled', false, 'no IsInstalled rule: cannot detect, so not installed');
  return evaluateRule(rule, inventory, 'isInstalled');
}

/** IsInstallable absent: installable everywhere. */
export function evaluateIsInstallable(rule: Rule | undefined, inventory: Inventory): Evaluation {
  if (rule === undefined)
    return absent('isInstallable', true, 'no IsInstallable rule: installable everywhere');
  return evaluateRule(rule, inventory, 'isInstallable');
}

function absent(path: string, value: boolean, reason: string): Evaluation {
  return { value, why: { path, rule: 'absent', value, reason } };
}

/** Whether another update is installed on this machine, as far as the caller knows. */
export type InstalledLookup = (updateId: string) => Tri;

/** Prerequisites are an AND of OR-groups of UpdateIDs (DESIGN.md §2). */
export function evaluatePrerequisites(
  groups: readonly (readonly string[])[],
  isInstalled: InstalledLookup,
): Evaluation {
  const children = groups.map((group, i): Why => {
    const members = group.map((id, j): Why => {
      const value = isInstalled(id);
      return {
        path: `prerequisites[${i}][${j}]`,
        rule: id,
        value,
        reason: `update ${id} installed: ${String(value)}`,
      };
    });
    const value = triOr(members.map((m) => m.value));
    return {
      path: `prerequisites[${i}]`,
      rule: 'Or',
      value,
      reason: decidedBy('Or', value, members),
      children: members,
    };
  });
  const value = triAnd(children.map((c) => c.value));
  const reason = groups.length === 0 ? 'no prerequisites' : decidedBy('And', value, children);
  return { value, why: { path: 'prerequisites', rule: 'And', value, reason, children } };
}

export interface UpdateRules {
  isInstalled?: Rule;
  isInstallable?: Rule;
  prerequisites?: readonly (readonly string[])[];
}

export interface Applicability {
  /** True only when the answer is certainly yes: unknown counts as not applicable. */
  applicable: boolean;
  value: Tri;
  isInstalled: Evaluation;
  isInstallable: Evaluation;
  prerequisites: Evaluation;
  why: Why;
}

const noneInstalled: InstalledLookup = () => false;

export function applicability(
  update: UpdateRules,
  inventory: Inventory,
  isUpdateInstalled: InstalledLookup = noneInstalled,
): Applicability {
  const isInstalled = evaluateIsInstalled(update.isInstalled, inventory);
  const isInstallable = evaluateIsInstallable(update.isInstallable, inventory);
  const prerequisites = evaluatePrerequisites(update.prerequisites ?? [], isUpdateInstalled);
  const value = triAnd([isInstallable.value, triNot(isInstalled.value), prerequisites.value]);
  const parts = [
    ['installable', isInstallable.value],
    ['installed', isInstalled.value],
    ['prerequisites installed', prerequisites.value],
  ] as const;
  const why: Why = {
    path: 'applicability',
    rule: 'applicability',
    value,
    reason: parts.map(([name, v]) => `${name}: ${String(v)}`).join(', '),
    children: [isInstallable.why, isInstalled.why, prerequisites.why],
  };
  return { applicable: value === true, value, isInstalled, isInstallable, prerequisites, why };
}
