import { DEFAULT_UNIT_DIR, installUnit as installNamedUnit, renderUnit } from '../systemd-unit.js';

export { DEFAULT_UNIT_DIR };
export const UNIT_NAME = 'upcat-agent.service';
export const SERVICE_STATE_DIR = '/var/lib/upcat-agent';

export interface UnitOptions {
  node: string;
  cli: string;
  server?: string;
  stateDir: string;
  intervalSeconds: number;
}

/**
 * The systemd unit (issue 6 item 5). The agent runs as root (installers need it), with a umask
 * of 077 and a state directory systemd creates 0700, so what it downloads and runs is never
 * writable by an unprivileged user.
 */
export function systemdUnit(o: UnitOptions): string {
  return renderUnit({
    description: 'upcat endpoint agent (software updates from the upcat site)',
    execStart: [
      o.node,
      o.cli,
      'agent',
      ...(o.server === undefined ? [] : ['--server', o.server]),
      '--state-dir',
      o.stateDir,
      '--interval',
      String(o.intervalSeconds),
    ],
    service: [
      'Restart=on-failure',
      'RestartSec=60',
      'UMask=0077',
      ...(o.stateDir === SERVICE_STATE_DIR
        ? ['StateDirectory=upcat-agent', 'StateDirectoryMode=0700']
        : []),
    ],
  });
}

/** Writes and enables the unit; root only. */
export function installUnit(
  unit: string,
  unitDir = DEFAULT_UNIT_DIR,
  uid = process.getuid?.(),
): Promise<string> {
  return installNamedUnit(unit, UNIT_NAME, unitDir, uid);
}
