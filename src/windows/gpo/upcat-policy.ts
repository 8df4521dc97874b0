/**
 * upcat's own policy (HKLM\Software\Policies\upcat): what Configuration Manager 2007's "site
 * assignment" and "provision client installation properties" templates carry, read by upcat's
 * agent on Windows (src/agent/windows-policy.ts) and defined for the policy editors by
 * upcat.admx (admx.ts). The names live here once, for the writer, the template and the reader.
 */
import { sz, type RegistryEntry } from './registry.js';

export const UPCAT_POLICY_KEY = 'Software\\Policies\\upcat';
export const UPCAT_PROPERTIES_KEY = `${UPCAT_POLICY_KEY}\\InstallationProperties`;

export const UPCAT_VALUES = {
  siteCode: 'SiteCode',
  serverUrl: 'ServerUrl',
  fallbackStatusPoint: 'FallbackStatusPoint',
} as const;

export interface UpcatPolicy {
  siteCode?: string;
  serverUrl?: string;
  fallbackStatusPoint?: string;
  /** Installation properties: one REG_SZ value per property under InstallationProperties. */
  properties: Record<string, string>;
}

export function upcatPolicyEntries(p: UpcatPolicy): RegistryEntry[] {
  const out: RegistryEntry[] = [];
  if (p.siteCode !== undefined) out.push(sz(UPCAT_POLICY_KEY, UPCAT_VALUES.siteCode, p.siteCode));
  if (p.serverUrl !== undefined)
    out.push(sz(UPCAT_POLICY_KEY, UPCAT_VALUES.serverUrl, p.serverUrl));
  if (p.fallbackStatusPoint !== undefined)
    out.push(sz(UPCAT_POLICY_KEY, UPCAT_VALUES.fallbackStatusPoint, p.fallbackStatusPoint));
  for (const [name, value] of Object.entries(p.properties))
    out.push(sz(UPCAT_PROPERTIES_KEY, name, value));
  return out;
}
