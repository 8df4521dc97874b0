/**
 * The attributes of each base rule, in one table that the JSON and XML forms share, so the two
 * forms cannot drift apart. Names and order follow BaseApplicabilityRules.xsd and
 * MsiApplicabilityRules.xsd (order is the order the writers emit).
 */
import type { BaseRuleKind } from './model.js';

export type AttrType =
  /** Non-empty string. */
  | 'string'
  /** String that may be empty (bt:RegistryValue: "" is the key's default value). */
  | 'string0'
  | 'version'
  | 'uint16'
  | 'uint32'
  | 'int32'
  /** Non-negative integer up to Number.MAX_SAFE_INTEGER (bt:FileSize is a long). */
  | 'size'
  | 'bool'
  | 'dateTime'
  | 'guid'
  | 'scalarComparison'
  | 'stringComparison'
  | 'architecture'
  | 'registryKey'
  | 'registryValueType';

export interface AttrSpec {
  readonly type: AttrType;
  readonly required: boolean;
}

type AttrTable = Readonly<Record<string, AttrSpec>>;

const req = (type: AttrType): AttrSpec => ({ type, required: true });
const opt = (type: AttrType): AttrSpec => ({ type, required: false });

const registryKey: AttrTable = {
  Key: req('registryKey'),
  Subkey: req('string'),
  RegType32: opt('bool'),
};
const registryValue: AttrTable = { ...registryKey, Value: req('string0') };

export const BASE_RULE_ATTRIBUTES: { readonly [K in BaseRuleKind]: AttrTable } = {
  FileExists: {
    Path: req('string'),
    Csidl: opt('int32'),
    Version: opt('version'),
    Created: opt('dateTime'),
    Modified: opt('dateTime'),
    Size: opt('size'),
    Language: opt('uint16'),
  },
  FileVersion: {
    Path: req('string'),
    Csidl: opt('int32'),
    Comparison: req('scalarComparison'),
    Version: req('version'),
  },
  FileSize: {
    Path: req('string'),
    Csidl: opt('int32'),
    Comparison: req('scalarComparison'),
    Size: req('size'),
  },
  RegKeyExists: registryKey,
  RegValueExists: { ...registryKey, Value: opt('string0'), Type: opt('registryValueType') },
  RegDword: { ...registryValue, Comparison: req('scalarComparison'), Data: req('uint32') },
  RegSz: { ...registryValue, Comparison: req('stringComparison'), Data: req('string') },
  RegSzToVersion: {
    ...registryValue,
    Comparison: req('scalarComparison'),
    Data: req('version'),
  },
  WindowsVersion: {
    Comparison: opt('scalarComparison'),
    MajorVersion: opt('uint32'),
    MinorVersion: opt('uint32'),
    BuildNumber: opt('uint32'),
    ServicePackMajor: opt('uint16'),
    ServicePackMinor: opt('uint16'),
    AllSuitesMustBePresent: opt('bool'),
    SuiteMask: opt('uint16'),
    ProductType: opt('uint16'),
  },
  Processor: { Architecture: req('architecture'), Level: opt('uint16'), Revision: opt('uint16') },
  Platform: { Name: req('string'), Comparison: opt('scalarComparison'), Version: opt('version') },
  MsiProductInstalled: {
    ProductCode: req('guid'),
    VersionMax: opt('version'),
    ExcludeVersionMax: opt('bool'),
    VersionMin: opt('version'),
    ExcludeVersionMin: opt('bool'),
    Language: opt('int32'),
  },
  WmiQuery: { Namespace: opt('string'), WqlQuery: req('string') },
  Fact: { Name: req('string'), Comparison: opt('scalarComparison'), Value: req('string') },
};

export const BASE_RULE_KINDS = Object.keys(BASE_RULE_ATTRIBUTES) as BaseRuleKind[];

export function isBaseRuleKind(name: string): name is BaseRuleKind {
  return Object.prototype.hasOwnProperty.call(BASE_RULE_ATTRIBUTES, name);
}

/** Which WSUS vocabulary an element belongs to; upcat's Platform and Fact travel as `bar:`. */
export type Vocabulary = 'lar' | 'bar' | 'msiar';

export function vocabularyOf(kind: BaseRuleKind): Vocabulary {
  return kind === 'MsiProductInstalled' ? 'msiar' : 'bar';
}
