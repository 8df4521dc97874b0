import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { UpcatError } from './errors.js';

/**
 * systemd units for upcat's services (the agent: src/agent/service-unit.ts; the site server:
 * src/server/service-unit.ts): one way to write, quote and install them.
 */
export const DEFAULT_UNIT_DIR = '/etc/systemd/system';

export interface UnitSpec {
  description: string;
  /** The command line, one word each (quoted as systemd.syntax(7) wants). */
  execStart: readonly string[];
  /** `Key=value` lines of the [Service] section after ExecStart. */
  service: readonly string[];
  /** Extra `Key=value` lines of the [Unit] section (ordering after the network is always there). */
  unit?: readonly string[];
}

/** Quotes one word for an ExecStart line (systemd.syntax(7): double quotes, \\ and \"). */
export function quoteWord(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word)
    ? word
    : `"${word.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

export function renderUnit(spec: UnitSpec): string {
  return [
    '[Unit]',
    `Description=${spec.description}`,
    'Wants=network-online.target',
    'After=network-online.target',
    ...(spec.unit ?? []),
    '',
    '[Service]',
    'Type=simple',
    `ExecStart=${spec.execStart.map(quoteWord).join(' ')}`,
    ...spec.service,
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}

/** Writes the unit as `<unitDir>/<name>`, reloads systemd and enables and starts it; root only. */
export async function installUnit(
  unit: string,
  name: string,
  unitDir = DEFAULT_UNIT_DIR,
  uid = process.getuid?.(),
): Promise<string> {
  if (uid !== 0)
    throw new UpcatError(
      'forbidden',
      `install-service must run as root (it writes ${path.join(unitDir, name)} and enables it); use --dry-run to print the unit`,
    );
  const file = path.join(unitDir, name);
  await writeFile(file, unit, { mode: 0o644 });
  // Loaded here: every `upcat agent` command reads this module's constants, and node:child_process
  // was a twentieth of `agent status`'s start (issue 16).
  const run = promisify((await import('node:child_process')).execFile);
  await run('systemctl', ['daemon-reload']);
  await run('systemctl', ['enable', '--now', name]);
  return file;
}
