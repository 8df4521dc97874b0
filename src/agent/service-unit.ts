import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { UpcatError } from '../errors.js';

export const UNIT_NAME = 'upcat-agent.service';
export const DEFAULT_UNIT_DIR = '/etc/systemd/system';
export const SERVICE_STATE_DIR = '/var/lib/upcat-agent';

export interface UnitOptions {
  node: string;
  cli: string;
  server?: string;
  stateDir: string;
  intervalSeconds: number;
}

/** Quotes one word for a systemd ExecStart line (systemd.syntax(7): double quotes, \\ and \"). */
function quote(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word)
    ? word
    : `"${word.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

/**
 * The systemd unit (issue 6 item 5). The agent runs as root (installers need it), with a umask
 * of 077 and a state directory systemd creates 0700, so what it downloads and runs is never
 * writable by an unprivileged user.
 */
export function systemdUnit(o: UnitOptions): string {
  const args = [
    o.node,
    o.cli,
    'agent',
    ...(o.server === undefined ? [] : ['--server', o.server]),
    '--state-dir',
    o.stateDir,
    '--interval',
    String(o.intervalSeconds),
  ];
  return [
    '[Unit]',
    'Description=upcat endpoint agent (software updates from the upcat site)',
    'Wants=network-online.target',
    'After=network-online.target',
    '',
    '[Service]',
    'Type=simple',
    `ExecStart=${args.map(quote).join(' ')}`,
    'Restart=on-failure',
    'RestartSec=60',
    'UMask=0077',
    ...(o.stateDir === SERVICE_STATE_DIR
      ? ['StateDirectory=upcat-agent', 'StateDirectoryMode=0700']
      : []),
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}

const run = promisify(execFile);

/** Writes and enables the unit; root only. */
export async function installUnit(
  unit: string,
  unitDir = DEFAULT_UNIT_DIR,
  uid = process.getuid?.(),
): Promise<string> {
  if (uid !== 0)
    throw new UpcatError(
      'forbidden',
      `install-service must run as root (it writes ${path.join(unitDir, UNIT_NAME)} and enables it); use --dry-run to print the unit`,
    );
  const file = path.join(unitDir, UNIT_NAME);
  await writeFile(file, unit, { mode: 0o644 });
  await run('systemctl', ['daemon-reload']);
  await run('systemctl', ['enable', '--now', UNIT_NAME]);
  return file;
}
