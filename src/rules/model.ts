/**
 * Applicability rule model (DESIGN.md §2, §8): a tree of And / Or / Not / True / False over base
 * rules. Base rules keep the WSUS element and attribute names (BaseApplicabilityRules.xsd,
 * MsiApplicabilityRules.xsd) so that the JSON and XML forms map onto the model one to one.
 * `Platform` and `Fact` are upcat's own base rules for machines that are not Windows.
 * Pure data: no I/O here.
 */

export const SCALAR_COMPARISONS = [
  'EqualTo',
  'LessThan',
  'LessThanOrEqualTo',
  'GreaterThan',
  'GreaterThanOrEqualTo',
] as const;
export type ScalarComparison = (typeof SCALAR_COMPARISONS)[number];

/** bt:StringComparison, used by RegSz. */
export const STRING_COMPARISONS = ['EqualTo', 'BeginsWith', 'Contains', 'EndsWith'] as const;
export type StringComparison = (typeof STRING_COMPARISONS)[number];

export const ARCHITECTURES = ['x86', 'x64', 'arm64', 'arm'] as const;
export type Architecture = (typeof ARCHITECTURES)[number];

/** bt:RegistryKey without HKEY_LOOP_TARGET, which only has a meaning inside bar:RegKeyLoop. */
export const REGISTRY_KEYS = ['HKEY_LOCAL_MACHINE'] as const;
export type RegistryKey = (typeof REGISTRY_KEYS)[number];

export const REGISTRY_VALUE_TYPES = [
  'REG_BINARY',
  'REG_DWORD',
  'REG_EXPAND_SZ',
  'REG_MULTI_SZ',
  'REG_QWORD',
  'REG_SZ',
  'REG_FULL_RESOURCE_DESCRIPTOR',
] as const;
export type RegistryValueType = (typeof REGISTRY_VALUE_TYPES)[number];

export interface AndRule {
  kind: 'And';
  rules: Rule[];
}
export interface OrRule {
  kind: 'Or';
  rules: Rule[];
}
export interface NotRule {
  kind: 'Not';
  rule: Rule;
}
export interface TrueRule {
  kind: 'True';
}
export interface FalseRule {
  kind: 'False';
}

/** Csidl names a known folder that Path is relative to (SHGetFolderPath's nFolder). */
interface FileAttributes {
  Path: string;
  Csidl?: number;
}
export interface FileExistsRule extends FileAttributes {
  kind: 'FileExists';
  Version?: string;
  Created?: string;
  Modified?: string;
  Size?: number;
  Language?: number;
}
export interface FileVersionRule extends FileAttributes {
  kind: 'FileVersion';
  Comparison: ScalarComparison;
  Version: string;
}
export interface FileSizeRule extends FileAttributes {
  kind: 'FileSize';
  Comparison: ScalarComparison;
  Size: number;
}

/** bt:RegistryKeyAttributes; RegType32 selects the 32-bit registry view. */
interface RegistryKeyAttributes {
  Key: RegistryKey;
  Subkey: string;
  RegType32?: boolean;
}
export interface RegKeyExistsRule extends RegistryKeyAttributes {
  kind: 'RegKeyExists';
}
export interface RegValueExistsRule extends RegistryKeyAttributes {
  kind: 'RegValueExists';
  Value?: string;
  Type?: RegistryValueType;
}
export interface RegDwordRule extends RegistryKeyAttributes {
  kind: 'RegDword';
  Value: string;
  Comparison: ScalarComparison;
  Data: number;
}
export interface RegSzRule extends RegistryKeyAttributes {
  kind: 'RegSz';
  Value: string;
  Comparison: StringComparison;
  Data: string;
}
export interface RegSzToVersionRule extends RegistryKeyAttributes {
  kind: 'RegSzToVersion';
  Value: string;
  Comparison: ScalarComparison;
  Data: string;
}

export interface WindowsVersionRule {
  kind: 'WindowsVersion';
  Comparison?: ScalarComparison;
  MajorVersion?: number;
  MinorVersion?: number;
  BuildNumber?: number;
  ServicePackMajor?: number;
  ServicePackMinor?: number;
  AllSuitesMustBePresent?: boolean;
  SuiteMask?: number;
  ProductType?: number;
}
export interface ProcessorRule {
  kind: 'Processor';
  Architecture: Architecture;
  Level?: number;
  Revision?: number;
}
/** upcat: OS family by name ("windows", "linux", "macos"), optionally with a version comparison. */
export interface PlatformRule {
  kind: 'Platform';
  Name: string;
  Comparison?: ScalarComparison;
  Version?: string;
}
export interface MsiProductInstalledRule {
  kind: 'MsiProductInstalled';
  ProductCode: string;
  VersionMax?: string;
  ExcludeVersionMax?: boolean;
  VersionMin?: string;
  ExcludeVersionMin?: boolean;
  Language?: number;
}
export interface WmiQueryRule {
  kind: 'WmiQuery';
  Namespace?: string;
  WqlQuery: string;
}
/** upcat: a named inventory fact ("os.id", "os.version") compared to a value. */
export interface FactRule {
  kind: 'Fact';
  Name: string;
  Comparison?: ScalarComparison;
  Value: string;
}

/**
 * An XML element outside the vocabulary, kept verbatim so an imported SDP round-trips.
 * Names are family-neutral: `bar:X`, `lar:X`, `msiar:X` for the WSUS vocabularies (either
 * namespace family), `{uri}X` for any other namespace, plain `X` for no namespace.
 */
export interface ForeignElement {
  name: string;
  attributes: Record<string, string>;
  children: ForeignElement[];
  /** Text content, when there is any besides white space (its position among children is not kept). */
  text?: string;
}
export interface UnsupportedRule {
  kind: 'Unsupported';
  element: ForeignElement;
}

export type LogicalRule = AndRule | OrRule | NotRule | TrueRule | FalseRule;
export type BaseRule =
  | FileExistsRule
  | FileVersionRule
  | FileSizeRule
  | RegKeyExistsRule
  | RegValueExistsRule
  | RegDwordRule
  | RegSzRule
  | RegSzToVersionRule
  | WindowsVersionRule
  | ProcessorRule
  | PlatformRule
  | MsiProductInstalledRule
  | WmiQueryRule
  | FactRule;
export type Rule = LogicalRule | BaseRule | UnsupportedRule;
export type RuleKind = Rule['kind'];
export type BaseRuleKind = BaseRule['kind'];

/** The two rule trees of an update; an absent one has its default meaning (see evaluate.ts). */
export interface RulePair {
  isInstalled?: Rule;
  isInstallable?: Rule;
}

export const LOGICAL_KINDS = ['And', 'Or', 'Not', 'True', 'False'] as const;

/** Deepest rule nesting accepted from outside; real SDPs stay under 10. */
export const MAX_RULE_DEPTH = 64;
