/**
 * Package versions as facts, for the packages that Fact rules name:
 * - `dpkg.<name>` / `rpm.<name>`: the upstream version's numeric part ("7.88.1" of
 *   "7.88.1-10+deb12u5"), so that Fact comparisons order it as a version;
 * - `dpkg.<name>.raw` / `rpm.<name>.raw`: the version as the package manager writes it;
 * - `dpkg.<name>.installed` / `rpm.<name>.installed`: "true" or "false".
 * A package that is not installed has no version fact (a comparison with it is unknown), and
 * when the package manager itself is missing nothing is said at all.
 */
import type { CommandRunner } from './command.js';

export type PackageManager = 'dpkg' | 'rpm';
type Facts = Record<string, string>;

const FACT = /^(dpkg|rpm)\.(.+?)(\.installed|\.raw)?$/;

/** Package names per manager that the fact names ask about. */
export function packagesAsked(facts: readonly string[]): Map<PackageManager, Set<string>> {
  const asked = new Map<PackageManager, Set<string>>();
  for (const name of facts) {
    const match = FACT.exec(name);
    if (match === null) continue;
    const manager = match[1] as PackageManager;
    const set = asked.get(manager) ?? new Set<string>();
    set.add(match[2] as string);
    asked.set(manager, set);
  }
  return asked;
}

export async function packageFacts(facts: readonly string[], run: CommandRunner): Promise<Facts> {
  const out: Facts = {};
  for (const [manager, names] of packagesAsked(facts)) {
    const list = [...names].filter((n) => /^[A-Za-z0-9][A-Za-z0-9+._:-]*$/.test(n));
    if (list.length === 0) continue;
    const found = manager === 'dpkg' ? await dpkgVersions(list, run) : await rpmVersions(list, run);
    if (found === undefined) continue;
    for (const name of list) {
      const raw = found.get(name);
      out[`${manager}.${name}.installed`] = String(raw !== undefined);
      if (raw === undefined) continue;
      out[`${manager}.${name}.raw`] = raw;
      const numeric = numericVersion(manager === 'dpkg' ? debianUpstream(raw) : raw);
      if (numeric !== undefined) out[`${manager}.${name}`] = numeric;
    }
  }
  return out;
}

/** Installed versions by package, or undefined when dpkg-query is not there. */
export async function dpkgVersions(
  names: readonly string[],
  run: CommandRunner,
): Promise<Map<string, string> | undefined> {
  // Exit code 1 only means that some name is unknown; the others are still listed.
  const result = await run('dpkg-query', [
    '-W',
    '-f=${Package}\\t${Version}\\t${db:Status-Status}\\n',
    '--',
    ...names,
  ]);
  if (result.exitCode !== 0 && result.exitCode !== 1) return undefined;
  const versions = new Map<string, string>();
  for (const line of result.stdout.split('\n')) {
    const [pkg, version, status] = line.split('\t');
    if (pkg === undefined || version === undefined || version === '') continue;
    // Multi-arch packages are listed as name:arch.
    const name = pkg.replace(/:[a-z0-9]+$/, '');
    if (status === 'installed') versions.set(name, version);
  }
  return versions;
}

export async function rpmVersions(
  names: readonly string[],
  run: CommandRunner,
): Promise<Map<string, string> | undefined> {
  const result = await run('rpm', [
    '-q',
    '--qf',
    '%{NAME}\\t%|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}\\n',
    '--',
    ...names,
  ]);
  // rpm exits with the number of packages not installed; 127 means no rpm at all.
  if (result.exitCode === 127 || (result.exitCode !== 0 && result.stdout === '')) return undefined;
  const versions = new Map<string, string>();
  for (const line of result.stdout.split('\n')) {
    const [name, version] = line.split('\t');
    if (name === undefined || version === undefined || version === '') continue;
    if (!versions.has(name)) versions.set(name, version);
  }
  return versions;
}

/** "1:2.36-9+deb12u4" -> "2.36": drop the epoch and the Debian revision. */
function debianUpstream(version: string): string {
  const noEpoch = version.replace(/^\d+:/, '');
  const dash = noEpoch.lastIndexOf('-');
  return dash === -1 ? noEpoch : noEpoch.slice(0, dash);
}

/** The leading numeric version ("9.2p1" -> "9.2"), at most four parts as WSUS versions. */
function numericVersion(version: string): string | undefined {
  const match = /^\d+(\.\d+){0,3}/.exec(version.replace(/^\d+:/, ''));
  return match === null ? undefined : match[0];
}
