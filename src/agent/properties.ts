import { UpcatError } from '../errors.js';

/**
 * Installation properties (issue 6 item 4): the command line (`--property k=v`) beats the
 * locally provisioned agent.json, which beats what the site publishes in GET /v1/site.
 */
export function resolveProperties(
  commandLine: Readonly<Record<string, string>>,
  provisioned: Readonly<Record<string, string>>,
  site: Readonly<Record<string, string>> | undefined,
): Record<string, string> {
  return { ...(site ?? {}), ...provisioned, ...commandLine };
}

/** Parses repeated `--property name=value` flags. */
export function parsePropertyFlags(flags: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const flag of flags) {
    const eq = flag.indexOf('=');
    const name = eq < 0 ? '' : flag.slice(0, eq);
    if (!/^[A-Za-z][A-Za-z0-9_.-]{0,63}$/.test(name))
      throw new UpcatError(
        'invalid_input',
        `--property: "${flag}" is not name=value with a property name such as installDir`,
      );
    out[name] = flag.slice(eq + 1);
  }
  return out;
}
