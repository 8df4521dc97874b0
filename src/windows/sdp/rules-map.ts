/**
 * upcat's applicability rules onto what Microsoft's rule vocabulary can say (issue 11 item 8).
 * BaseApplicabilityRules.xsd, LogicalApplicabilityRules.xsd and MsiApplicabilityRules.xsd
 * define every element a package may hold; upcat's own `Platform` and `Fact`, and elements kept
 * verbatim from other namespaces, are not among them. Everything a Windows machine evaluates
 * the same way is rewritten:
 *  - Platform "windows" is true on every machine a catalog reaches; with a version it becomes a
 *    bar:WindowsVersion naming major, minor and build (missing parts 0, as upcat compares);
 *  - Platform of any other OS is false there;
 *  - the constants these rewrites give are folded (And with False is False, Or with True is
 *    True, Not of a constant), so a Fact under a branch that cannot hold on Windows disappears.
 * What remains and cannot be said (a Fact, a four-part Windows version, an element outside the
 * schemas) makes the rule unexportable, with the reason; the caller leaves the package out.
 */
import type { Rule, UnsupportedRule } from '../../rules/index.js';

export type RuleMapping = { ok: true; rule: Rule; notes: string[] } | { ok: false; reason: string };

type Mapped = { rule: Rule } | { reason: string };

/** Elements of the three rule schemas, by the family-neutral name the importer keeps (`bar:X`). */
const SCHEMA_ELEMENTS = new Set([
  ...[
    'WindowsVersion',
    'WindowsLanguage',
    'MuiInstalled',
    'MuiLanguageInstalled',
    'SystemMetric',
    'Processor',
    'NumberOfProcessors',
    'ClusteredOS',
    'ClusterResourceOwner',
    'FileExists',
    'FileExistsPrependRegSz',
    'FileVersion',
    'FileVersionPrependRegSz',
    'FileCreated',
    'FileCreatedPrependRegSz',
    'FileModified',
    'FileModifiedPrependRegSz',
    'FileSize',
    'FileSizePrependRegSz',
    'RegKeyExists',
    'RegValueExists',
    'RegDword',
    'RegExpandSz',
    'RegSz',
    'RegSzToVersion',
    'RegKeyLoop',
    'WmiQuery',
    'InstalledOnce',
    'GenericQuery',
  ].map((n) => `bar:${n}`),
  ...['True', 'False', 'And', 'Or', 'Not'].map((n) => `lar:${n}`),
  ...[
    'MsiProductInstalled',
    'MsiFeatureInstalledForProduct',
    'MsiComponentInstalledForProduct',
    'MsiPatchInstalledForProduct',
    'MsiPatchInstalled',
    'MsiPatchSuperseded',
    'MsiPatchInstallable',
    'MsiApplicationInstalled',
    'MsiApplicationSuperseded',
    'MsiApplicationInstallable',
  ].map((n) => `msiar:${n}`),
]);

const TRUE: Rule = { kind: 'True' };
const FALSE: Rule = { kind: 'False' };

/** Maps one rule tree; `label` names it in notes and reasons (IsInstalled, IsInstallable). */
export function mapRuleForSdp(rule: Rule, label: string): RuleMapping {
  const notes: string[] = [];
  const mapped = map(rule, (note) => notes.push(`${label}: ${note}`));
  if ('reason' in mapped) return { ok: false, reason: `${label}: ${mapped.reason}` };
  return { ok: true, rule: mapped.rule, notes };
}

function map(rule: Rule, note: (text: string) => void): Mapped {
  switch (rule.kind) {
    case 'And':
    case 'Or':
      return logical(rule.kind, rule.rules, note);
    case 'Not': {
      const inner = map(rule.rule, note);
      if ('reason' in inner) return inner;
      if (inner.rule === TRUE) return { rule: FALSE };
      if (inner.rule === FALSE) return { rule: TRUE };
      return { rule: { kind: 'Not', rule: inner.rule } };
    }
    case 'Platform':
      return platform(rule, note);
    case 'Fact':
      return {
        reason: `Fact "${rule.Name}" (an inventory fact) has no equivalent in Microsoft's rule vocabulary`,
      };
    case 'Unsupported':
      return unsupported(rule);
    default:
      return versions(rule);
  }
}

/**
 * bt:Version (FileExists and FileVersion Version, RegSzToVersion Data) is exactly four parts of
 * at most five digits; upcat takes one to four parts, missing ones counting as 0, so they are
 * padded. mspblob:Version (MSI VersionMin/VersionMax) takes one to four parts of five digits.
 */
function versions(rule: Rule): Mapped {
  const FOUR = ['FileExists', 'FileVersion', 'RegSzToVersion'];
  const fields: Array<[string, boolean]> =
    rule.kind === 'MsiProductInstalled'
      ? [
          ['VersionMin', false],
          ['VersionMax', false],
        ]
      : FOUR.includes(rule.kind)
        ? [[rule.kind === 'RegSzToVersion' ? 'Data' : 'Version', true]]
        : [];
  const values = rule as unknown as Record<string, unknown>;
  const out: Record<string, unknown> = { ...values };
  for (const [field, pad] of fields) {
    const value = values[field];
    if (typeof value !== 'string') continue;
    const parts = value.split('.');
    if (parts.some((p) => p.length > 5)) {
      return {
        reason: `${rule.kind} ${field} ${value} has a part over five digits, which the SDP schema's version type cannot hold`,
      };
    }
    if (pad) out[field] = [...parts, '0', '0', '0'].slice(0, 4).join('.');
  }
  return { rule: out as unknown as Rule };
}

/**
 * Folds only the constants a rewrite produced (the TRUE and FALSE objects above, compared by
 * identity): a True or False the author wrote stays where it is, so a rule that needed no
 * rewrite is exported exactly as stored.
 */
function logical(kind: 'And' | 'Or', rules: Rule[], note: (text: string) => void): Mapped {
  // And: False absorbs, True is neutral; Or the other way round.
  const absorbing = kind === 'And' ? FALSE : TRUE;
  const neutral = kind === 'And' ? TRUE : FALSE;
  const kept: Rule[] = [];
  let failure: { reason: string } | undefined;
  for (const r of rules) {
    const m = map(r, note);
    if ('reason' in m) {
      failure ??= m;
      continue;
    }
    if (m.rule === absorbing) return { rule: absorbing };
    if (m.rule !== neutral) kept.push(m.rule);
  }
  if (failure !== undefined) return failure;
  if (kept.length === rules.length) return { rule: { kind, rules: kept } };
  if (kept.length === 0) return { rule: neutral };
  if (kept.length === 1) return { rule: kept[0] as Rule };
  return { rule: { kind, rules: kept } };
}

function platform(rule: Extract<Rule, { kind: 'Platform' }>, note: (text: string) => void): Mapped {
  if (rule.Name.toLowerCase() !== 'windows') {
    note(`Platform "${rule.Name}" is false on Windows`);
    return { rule: FALSE };
  }
  if (rule.Version === undefined) {
    note('Platform "windows" is true on every machine a Windows catalog reaches');
    return { rule: TRUE };
  }
  const parts = rule.Version.split('.').map(Number);
  if (parts.length > 3) {
    return {
      reason: `Platform "windows" version ${rule.Version} has four parts; bar:WindowsVersion compares major, minor and build only`,
    };
  }
  const [major = 0, minor = 0, build = 0] = parts;
  note(
    `Platform "windows" ${rule.Comparison ?? 'EqualTo'} ${rule.Version} written as bar:WindowsVersion`,
  );
  return {
    rule: {
      kind: 'WindowsVersion',
      Comparison: rule.Comparison ?? 'EqualTo',
      MajorVersion: major,
      MinorVersion: minor,
      BuildNumber: build,
    },
  };
}

/** An element kept verbatim at import: exportable when the schemas define it (and its children). */
function unsupported(rule: UnsupportedRule): Mapped {
  const outside = findOutside(rule.element);
  if (outside !== undefined) {
    return { reason: `element ${outside} is not in Microsoft's rule schemas` };
  }
  return { rule };
}

function findOutside(e: UnsupportedRule['element']): string | undefined {
  if (!SCHEMA_ELEMENTS.has(e.name) && !isRuleMetadata(e.name)) return e.name;
  if (Object.keys(e.attributes).some((a) => a.includes(':') || a.startsWith('{'))) {
    return `${e.name} (a namespaced attribute)`;
  }
  for (const c of e.children) {
    const found = findOutside(c);
    if (found !== undefined) return found;
  }
  return undefined;
}

/** Child elements that the schemas define inside msiar rules (Feature, Component, Product...). */
function isRuleMetadata(name: string): boolean {
  return /^(msiar|bar):[A-Z][A-Za-z]*$/.test(name) && !name.startsWith('bar:');
}
