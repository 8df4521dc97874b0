/**
 * The version an imported package is published under. An SDP has no version field; a vendor
 * states one only through its detection rule (IsInstalled: the MSI product's VersionMin, the
 * installed file's version, a registry version). Where it does, that is used. Otherwise a
 * version-looking token of the title (a whole token, so "802.11ac" is a word and not version
 * 802.11; a bracketed token such as "[16.1.3.1.A11-1]" preferred) is used and reported as a
 * guess, keeping the vendor's text as given; else the CreationDate, reported as such.
 *
 * The version is not the identity of a vendor package (its PackageID is), so two packages
 * with one product name ("Driver") and one version never collide.
 */
import { VERSION_PATTERN } from '../../catalog/manifest.js';
import type { Rule } from '../../rules/index.js';

export interface VersionChoice {
  version: string;
  /** Where it came from, as the report says it. */
  source: string;
  /** The vendor's text when the version was cut from it (e.g. "16.1.3.1.A11-1"). */
  vendorText?: string;
  guessed: boolean;
}

export function chooseVersion(
  isInstalled: Rule | undefined,
  title: string | undefined,
  creationDate: string | undefined,
): VersionChoice {
  const stated = statedVersion(isInstalled);
  if (stated !== undefined) return { ...stated, guessed: false };
  const fromTitle = titleVersion(title ?? '');
  if (fromTitle !== undefined) {
    return {
      version: fromTitle.version,
      source: `title token "${fromTitle.token}" (guessed: the SDP states no version)`,
      ...(fromTitle.token === fromTitle.version ? {} : { vendorText: fromTitle.token }),
      guessed: true,
    };
  }
  const date = /^(\d{4})-(\d{2})-(\d{2})/.exec(creationDate ?? '');
  if (date !== null) {
    return {
      version: `${Number(date[1])}.${Number(date[2])}.${Number(date[3])}`,
      source: 'CreationDate (the SDP states no version)',
      guessed: true,
    };
  }
  return { version: '0.0', source: 'none (the SDP states no version; 0.0 used)', guessed: true };
}

/** A version the detection rule compares against, walking And (the rule's conjuncts) only. */
function statedVersion(rule: Rule | undefined): { version: string; source: string } | undefined {
  if (rule === undefined) return undefined;
  if (rule.kind === 'And') {
    for (const r of rule.rules) {
      const found = statedVersion(r);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  const accept = (value: string | undefined, source: string) => {
    const v = value?.trim();
    return v !== undefined && VERSION_PATTERN.test(v) ? { version: v, source } : undefined;
  };
  switch (rule.kind) {
    case 'MsiProductInstalled':
      return accept(rule.VersionMin ?? rule.VersionMax, 'IsInstalled MsiProductInstalled');
    case 'FileVersion':
      return rule.Comparison === 'EqualTo' || rule.Comparison === 'GreaterThanOrEqualTo'
        ? accept(rule.Version, 'IsInstalled FileVersion')
        : undefined;
    case 'RegSzToVersion':
      return rule.Comparison === 'EqualTo' || rule.Comparison === 'GreaterThanOrEqualTo'
        ? accept(rule.Data, 'IsInstalled RegSzToVersion')
        : undefined;
    default:
      return undefined;
  }
}

/**
 * Tokens of the title split at white space, brackets, parentheses and commas; a token is a
 * version when it is digits and dots (1 to 4 parts, at least 2), optionally after a "v" and
 * before a "." or "-" suffix ("16.1.3.1.A11-1" gives 16.1.3.1). Bracketed tokens win, then the
 * last one (vendors end titles with the version).
 */
function titleVersion(title: string): { version: string; token: string } | undefined {
  const found: Array<{ version: string; token: string; bracketed: boolean }> = [];
  const pattern = /(\[)?([^\s[\](),]+)(\])?/g;
  for (let m = pattern.exec(title); m !== null; m = pattern.exec(title)) {
    const token = m[2] ?? '';
    const parts = /^[vV]?(\d{1,9}(?:\.\d{1,9}){1,3})(?:[.-][A-Za-z0-9][A-Za-z0-9.-]*)?$/.exec(
      token,
    );
    if (parts?.[1] === undefined) continue;
    found.push({ version: parts[1], token, bracketed: m[1] === '[' && m[3] === ']' });
  }
  const best = found.filter((f) => f.bracketed).pop() ?? found.pop();
  return best === undefined ? undefined : { version: best.version, token: best.token };
}
