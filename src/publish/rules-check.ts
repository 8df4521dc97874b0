import type { Manifest } from '../catalog/manifest.js';
import { canonicalJson } from '../catalog/canonical-json.js';
import { parseRuleJson, ruleToJson } from '../rules/index.js';

/** The manifest's rule trees, validated and stored as canonical JSON (null when absent). */
export interface NormalizedRules {
  isInstalled: string | null;
  isInstallable: string | null;
}

/**
 * Parses both rule trees with the rule engine's strict JSON reader (unknown elements and
 * attributes are errors naming their path), then stores them in one normal form.
 */
export function normalizeRules(manifest: Manifest): NormalizedRules {
  const normal = (value: unknown, field: string): string | null =>
    value === undefined ? null : canonicalJson(ruleToJson(parseRuleJson(value, field)));
  return {
    isInstalled: normal(manifest.isInstalled, 'isInstalled'),
    isInstallable: normal(manifest.isInstallable, 'isInstallable'),
  };
}
