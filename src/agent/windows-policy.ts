/**
 * upcat's own Group Policy on Windows (issue 12 item 7): HKLM\Software\Policies\upcat, as
 * upcat.admx defines it and `upcat gpo export` writes it (src/windows/gpo/upcat-policy.ts).
 * Read with `reg query` like the inventory's registry provider, and tested with recorded output.
 *
 * Precedence, for each setting: the agent's command line, then this policy, then agent.json,
 * then what the site publishes (installation properties) or finds (server: UPCAT_SERVER, DNS).
 * A policy value that is set but malformed is an error naming it, as a malformed agent.json is:
 * an administrator's policy must never be ignored silently.
 */
import { UpcatError } from '../errors.js';
import { hasControlChars } from '../validation.js';
import {
  UPCAT_POLICY_KEY,
  UPCAT_PROPERTIES_KEY,
  UPCAT_VALUES,
} from '../windows/gpo/upcat-policy.js';
import type { AgentConfig } from './config.js';
import { systemRunner, type CommandRunner } from './inventory/command.js';
import { parseRegQuery, type RegistryValues } from './inventory/windows-registry.js';

export interface WindowsPolicy {
  siteCode?: string;
  server?: string;
  fallbackStatusPoint?: string;
  properties: Record<string, string>;
  /** Why the policy could not be read (reg.exe missing or failing); the agent logs these. */
  warnings: string[];
}

/** The policy of this machine: read on Windows only (elsewhere there is none). */
export async function machinePolicy(): Promise<WindowsPolicy> {
  return process.platform === 'win32' ? readWindowsPolicy() : { properties: {}, warnings: [] };
}

export async function readWindowsPolicy(
  run: CommandRunner = systemRunner({ timeoutMs: 15_000, maxBuffer: 1024 * 1024 }),
): Promise<WindowsPolicy> {
  const warnings: string[] = [];
  const query = async (key: string): Promise<RegistryValues> => {
    // Software\Policies is shared by both registry views; /reg:64 asks for the native one anyway.
    const result = await run('reg', ['query', `HKLM\\${key}`, '/reg:64']);
    if (result.exitCode === 0) return parseRegQuery(result.stdout);
    // reg.exe exits 1 when the key is absent (no policy: the usual case); its message is in the
    // system's language, so the code alone decides. Anything else (no reg.exe: 127, killed on
    // the time limit) means the policy could not be read, which the agent says.
    if (result.exitCode !== 1)
      warnings.push(
        `Group Policy HKLM\\${key} not read: reg query exited ${result.exitCode}: ${result.stderr.trim()}`,
      );
    return {};
  };
  const main = await query(UPCAT_POLICY_KEY);
  const properties = await query(UPCAT_PROPERTIES_KEY);
  return { ...policyFromValues(main, properties), warnings };
}

/** Checks and converts the values of the two keys (exported for tests). */
export function policyFromValues(
  main: RegistryValues,
  properties: RegistryValues,
): Omit<WindowsPolicy, 'warnings'> {
  const siteCode = text(main, UPCAT_VALUES.siteCode, UPCAT_POLICY_KEY)?.toUpperCase();
  if (siteCode !== undefined && !/^[A-Z0-9]{3}$/.test(siteCode))
    throw bad(
      UPCAT_POLICY_KEY,
      UPCAT_VALUES.siteCode,
      `"${siteCode}" is not a three-character site code`,
    );
  const server = url(main, UPCAT_VALUES.serverUrl);
  const fallbackStatusPoint = url(main, UPCAT_VALUES.fallbackStatusPoint);
  const props: Record<string, string> = {};
  for (const name of Object.keys(properties)) {
    if (!/^[A-Za-z][A-Za-z0-9_.-]{0,63}$/.test(name))
      throw bad(UPCAT_PROPERTIES_KEY, name, 'is not an installation property name');
    const value = text(properties, name, UPCAT_PROPERTIES_KEY) ?? '';
    if (value.length > 4096 || hasControlChars(value))
      throw bad(UPCAT_PROPERTIES_KEY, name, 'passes 4,096 characters or holds control characters');
    props[name] = value;
  }
  return {
    ...(siteCode === undefined ? {} : { siteCode }),
    ...(server === undefined ? {} : { server }),
    ...(fallbackStatusPoint === undefined ? {} : { fallbackStatusPoint }),
    properties: props,
  };
}

/**
 * agent.json with the policy laid over it: the policy wins, the command line still beats both.
 * The server is not laid over: discovery takes the policy's as a source of its own (discovery.ts),
 * so that the agent reports where it found the site.
 */
export function withWindowsPolicy(config: AgentConfig, policy: WindowsPolicy): AgentConfig {
  return {
    ...config,
    ...(policy.siteCode === undefined ? {} : { siteCode: policy.siteCode }),
    ...(policy.fallbackStatusPoint === undefined
      ? {}
      : { fallbackStatusPoint: policy.fallbackStatusPoint }),
    properties: { ...config.properties, ...policy.properties },
  };
}

/** A string value, or undefined when absent or empty (an enabled policy with an empty field). */
function text(values: RegistryValues, name: string, key: string): string | undefined {
  const v = values[name];
  if (v === undefined) return undefined;
  if (v.type !== 'REG_SZ' && v.type !== 'REG_EXPAND_SZ')
    throw bad(key, name, `is ${v.type}, not REG_SZ`);
  const s = String(v.data).trim();
  return s === '' ? undefined : s;
}

function url(values: RegistryValues, name: string): string | undefined {
  const s = text(values, name, UPCAT_POLICY_KEY);
  if (s === undefined) return undefined;
  let parsed: URL | undefined;
  try {
    parsed = new URL(s);
  } catch {
    parsed = undefined;
  }
  if (parsed === undefined || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:'))
    throw bad(UPCAT_POLICY_KEY, name, `"${s}" is not an http or https URL`);
  return s;
}

const bad = (key: string, name: string, why: string): UpcatError =>
  new UpcatError('invalid_config', `Group Policy HKLM\\${key} ${name}: ${why}`);

/** Site assignment: a site whose code is not the assigned one (policy or agent.json) is refused. */
export function checkAssignment(info: { siteCode: string }, assigned: string | undefined): void {
  if (assigned !== undefined && info.siteCode.toUpperCase() !== assigned)
    throw new UpcatError(
      'incompatible_site',
      `this agent is assigned to site ${assigned} (Group Policy SiteCode or agent.json siteCode), but the site found is ${info.siteCode}`,
    );
}
