/**
 * The export's options from their command-line text: every bad value is one clear error naming
 * the option, before anything is written.
 */
import { invalidInput } from '../../errors.js';
import { hasControlChars } from '../../validation.js';
import { GPO_FORMATS, type GpoExportOptions, type GpoFormat } from './export.js';
import type { AuOption } from './windows-update.js';

export interface GpoExportFlags {
  format: string;
  host?: string;
  url?: string;
  targetGroup?: string;
  auOptions: string;
  installDay: string;
  installTime: string;
  detectionFrequency: string;
  agentPolicy: boolean;
  fallbackStatusPoint?: string;
  properties: Record<string, string>;
}

export function parseGpoExportFlags(flags: GpoExportFlags): GpoExportOptions {
  if (
    !flags.agentPolicy &&
    (flags.fallbackStatusPoint !== undefined || Object.keys(flags.properties).length > 0)
  )
    throw invalidInput(
      "--no-agent-policy leaves out upcat's own policy, where --fallback-status-point and --property go: give one or the other",
    );
  return {
    formats: formats(flags.format),
    ...(flags.host === undefined ? {} : { host: hostName(flags.host) }),
    ...(flags.url === undefined ? {} : { url: baseUrl(flags.url, '--url') }),
    ...(flags.targetGroup === undefined ? {} : { targetGroup: targetGroup(flags.targetGroup) }),
    auOption: integer(flags.auOptions, '--au-options', 2, 5) as AuOption,
    scheduledInstallDay: integer(flags.installDay, '--install-day', 0, 7),
    scheduledInstallTime: integer(flags.installTime, '--install-time', 0, 23),
    detectionFrequencyHours: integer(flags.detectionFrequency, '--detection-frequency', 1, 22),
    agentPolicy: flags.agentPolicy,
    ...(flags.fallbackStatusPoint === undefined
      ? {}
      : {
          fallbackStatusPoint: baseUrl(flags.fallbackStatusPoint, '--fallback-status-point'),
        }),
    properties: checkedProperties(flags.properties),
  };
}

function formats(text: string): GpoFormat[] {
  const names = text.split(',').map((s) => s.trim());
  const bad = names.filter((n) => !(GPO_FORMATS as readonly string[]).includes(n));
  if (names.length === 0 || bad.length > 0)
    throw invalidInput(
      `--format: "${bad.join(',') || text}" is not a list of ${GPO_FORMATS.join(', ')}`,
    );
  return [...new Set(names)] as GpoFormat[];
}

function integer(text: string, option: string, min: number, max: number): number {
  const n = Number(text);
  if (!/^\d{1,3}$/.test(text) || n < min || n > max)
    throw invalidInput(`${option}: "${text}" is not a whole number from ${min} to ${max}`);
  return n;
}

function hostName(text: string): string {
  // A DNS name or an IPv4/IPv6 address: nothing that could break out of a URL's authority.
  if (!/^[A-Za-z0-9.-]{1,253}$/.test(text) && !/^[0-9A-Fa-f:.]{2,45}$/.test(text))
    throw invalidInput(`--host: "${text}" is not a host name or address`);
  return text;
}

function baseUrl(text: string, option: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw invalidInput(`${option}: "${text}" is not a URL`);
  }
  if (
    (url.protocol !== 'http:' && url.protocol !== 'https:') ||
    url.search !== '' ||
    url.hash !== ''
  )
    throw invalidInput(`${option}: "${text}" is not an http or https base URL`);
  if (url.username !== '' || url.password !== '')
    throw invalidInput(`${option}: "${text}" carries credentials, which a policy must not`);
  return text.replace(/\/+$/, '');
}

/** TargetGroup: one or more group names separated by `;` (client-side targeting). */
function targetGroup(text: string): string {
  const names = text.split(';').map((s) => s.trim());
  if (names.some((n) => n === '' || n.length > 128 || hasControlChars(n)))
    throw invalidInput(
      `--target-group: "${text}" is not group names (1-128 characters, no control characters) separated by ;`,
    );
  return names.join(';');
}

function checkedProperties(properties: Record<string, string>): Record<string, string> {
  for (const [name, value] of Object.entries(properties))
    if (hasControlChars(value) || value.length > 4096)
      throw invalidInput(
        `--property ${name}: the value holds control characters or passes 4,096 characters`,
      );
  return properties;
}
