/**
 * Rules derived from an MSI payload (issue 4, item 6): when the published file is an .msi and
 * the manifest gives neither rule, the update is installed when that product is at that
 * version or above, and installable everywhere. A manifest that gives either rule is left
 * alone: the author has decided.
 */
import { canonicalJson } from '../catalog/canonical-json.js';
import type { Manifest } from '../catalog/manifest.js';
import { invalidInput } from '../errors.js';
import { parseRuleJson, ruleToJson, type Rule } from '../rules/index.js';
import { readMsiMetadata, type MsiMetadata } from './msi.js';
import type { NormalizedRules } from './rules-check.js';

/** The rule pair that an MSI's Property table implies. */
export function rulesFromMsi(metadata: MsiMetadata): { isInstalled: Rule; isInstallable: Rule } {
  return {
    isInstalled: {
      kind: 'MsiProductInstalled',
      ProductCode: metadata.productCode,
      VersionMin: metadata.productVersion,
    },
    isInstallable: { kind: 'True' },
  };
}

/**
 * Returns `rules` unchanged unless the payload is an .msi and both rules are absent; then
 * reads the staged file and returns the derived rules in stored (canonical JSON) form. An msi
 * handler naming another ProductCode than the file's is refused: it could never detect itself.
 */
export async function deriveMsiRules(
  stagedPath: string,
  fileName: string,
  manifest: Manifest,
  rules: NormalizedRules,
): Promise<NormalizedRules> {
  if (!fileName.toLowerCase().endsWith('.msi')) return rules;
  if (rules.isInstalled !== null || rules.isInstallable !== null) return rules;
  const metadata = await readMsiMetadata(stagedPath, `payload "${fileName}"`);
  const handler = manifest.handler;
  if (
    handler.type === 'msi' &&
    handler.program === undefined &&
    handler.productCode !== metadata.productCode
  ) {
    throw invalidInput(
      `handler.productCode: ${handler.productCode} is not the ProductCode of "${fileName}" (${metadata.productCode})`,
      { field: 'handler.productCode' },
    );
  }
  const derived = rulesFromMsi(metadata);
  // Re-read through the strict parser so a ProductVersion that is no version is refused here.
  const stored = (rule: Rule, field: string): string =>
    canonicalJson(ruleToJson(parseRuleJson(ruleToJson(rule), `${fileName}: derived ${field}`)));
  return {
    isInstalled: stored(derived.isInstalled, 'isInstalled'),
    isInstallable: stored(derived.isInstallable, 'isInstallable'),
  };
}
