/**
 * Evaluating the rules about the machine itself: Windows version, processor, platform, facts.
 */
import type { Outcome } from './base-rules.js';
import type { Inventory } from './inventory.js';
import type { FactRule, PlatformRule, ProcessorRule, WindowsVersionRule } from './model.js';
import { isWindows } from './paths.js';
import { triAnd } from './tri.js';
import { compareNumbers, isVersion, satisfies, versionSatisfies } from './version.js';

const unknown = (reason: string): Outcome => ({ value: 'unknown', reason });
const answer = (value: boolean, reason: string): Outcome => ({ value, reason });

/**
 * As VerifyVersionInfo does: the given fields compare in order (major, minor, build, service
 * pack major, minor) and the first that differs decides. A field the inventory lacks is only
 * unknown if the comparison gets that far.
 */
export function windowsVersion(rule: WindowsVersionRule, inventory: Inventory): Outcome {
  const platform = inventory.platform;
  if (platform === undefined) return unknown('inventory has no platform');
  if (!isWindows(inventory)) return answer(false, `platform is ${platform.name}, not Windows`);
  const [major, minor, build] = (platform.version ?? '')
    .split('.')
    .map((p) => (/^\d+$/.test(p) ? Number(p) : undefined));
  const fields: [string, number | undefined, number | undefined][] = [
    ['major version', major, rule.MajorVersion],
    ['minor version', minor, rule.MinorVersion],
    ['build', build, rule.BuildNumber],
    ['service pack major', platform.servicePackMajor, rule.ServicePackMajor],
    ['service pack minor', platform.servicePackMinor, rule.ServicePackMinor],
  ];
  const comparison = rule.Comparison ?? 'EqualTo';
  const checks: Outcome[] = [versionOrder(fields, comparison, platform.version)];
  if (rule.ProductType !== undefined) {
    checks.push(
      platform.productType === undefined
        ? unknown('inventory has no product type')
        : answer(
            platform.productType === rule.ProductType,
            `product type ${platform.productType}, wanted ${rule.ProductType}`,
          ),
    );
  }
  if (rule.SuiteMask !== undefined) checks.push(unknown('inventory has no suite mask'));
  const value = triAnd(checks.map((c) => c.value));
  return {
    value,
    reason: (checks.find((c) => c.value === value) ?? (checks[0] as Outcome)).reason,
  };
}

function versionOrder(
  fields: [string, number | undefined, number | undefined][],
  comparison: WindowsVersionRule['Comparison'] & string,
  version: string | undefined,
): Outcome {
  for (const [name, actual, wanted] of fields) {
    if (wanted === undefined) continue;
    if (actual === undefined) return unknown(`inventory has no Windows ${name}`);
    const order = compareNumbers(actual, wanted);
    if (order !== 0) {
      return answer(
        satisfies(order, comparison),
        `Windows ${version ?? ''}: ${name} ${actual} ${comparison} ${wanted}`,
      );
    }
  }
  return answer(
    satisfies(0, comparison),
    `Windows ${version ?? ''}: equal on every given field, ${comparison}`,
  );
}

export function processor(rule: ProcessorRule, inventory: Inventory): Outcome {
  const architecture = inventory.platform?.architecture;
  if (architecture === undefined) return unknown('inventory has no processor architecture');
  const checks: Outcome[] = [
    answer(
      architecture === rule.Architecture,
      `architecture ${architecture}, wanted ${rule.Architecture}`,
    ),
  ];
  if (rule.Level !== undefined || rule.Revision !== undefined) {
    checks.push(unknown('inventory has no processor level or revision'));
  }
  const value = triAnd(checks.map((c) => c.value));
  return {
    value,
    reason: (checks.find((c) => c.value === value) ?? (checks[0] as Outcome)).reason,
  };
}

export function platform(rule: PlatformRule, inventory: Inventory): Outcome {
  const actual = inventory.platform;
  if (actual === undefined) return unknown('inventory has no platform');
  if (actual.name.toLowerCase() !== rule.Name.toLowerCase()) {
    return answer(false, `platform is ${actual.name}, not ${rule.Name}`);
  }
  if (rule.Version === undefined) return answer(true, `platform is ${actual.name}`);
  const comparison = rule.Comparison ?? 'EqualTo';
  if (actual.version === undefined) return unknown('inventory has no platform version');
  const result = versionSatisfies(actual.version, comparison, rule.Version);
  const reason = `${actual.name} ${actual.version} ${comparison} ${rule.Version}`;
  return result === undefined ? unknown(`${reason}: not a version`) : answer(result, reason);
}

/**
 * Facts compare as versions when both sides are versions (os.version 12 equals 12.0), else
 * EqualTo compares text case-insensitively and an ordering cannot be told.
 */
export function fact(rule: FactRule, inventory: Inventory): Outcome {
  if (inventory.facts === undefined) return unknown('inventory has no facts section');
  const raw = Object.prototype.hasOwnProperty.call(inventory.facts, rule.Name)
    ? inventory.facts[rule.Name]
    : undefined;
  if (raw === undefined) return unknown(`inventory has no fact ${rule.Name}`);
  const actual = String(raw);
  const comparison = rule.Comparison ?? 'EqualTo';
  const reason = `${rule.Name} = ${JSON.stringify(actual)} ${comparison} ${JSON.stringify(rule.Value)}`;
  if (isVersion(actual) && isVersion(rule.Value)) {
    return answer(versionSatisfies(actual, comparison, rule.Value) === true, reason);
  }
  if (comparison === 'EqualTo')
    return answer(actual.toLowerCase() === rule.Value.toLowerCase(), reason);
  return unknown(`${reason}: not versions, cannot order`);
}
