import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import type { SiteConfig } from '../config/schema.js';
import { UpcatError } from '../errors.js';
import { installUnit, renderUnit } from '../systemd-unit.js';

export const SERVER_UNIT_NAME = 'upcat.service';
export const DEFAULT_SERVICE_USER = 'upcat';

export interface ServerUnitOptions {
  node: string;
  cli: string;
  config: SiteConfig;
  user: string;
}

/** Folders under which ProtectHome=yes would hide the site (or upcat itself) from the service. */
const HOME_ROOTS = ['/home', '/root', '/run/user'];

/**
 * The site server as a systemd service (issue 13 item 6): a dedicated unprivileged user, and
 * the sandbox of systemd.exec(5) with everything closed that a server which listens, reads its
 * site home and talks to PostgreSQL does not need. The only writable place is the site home
 * (ProtectSystem=strict + ReadWritePaths); /tmp is private; no privilege can be gained (setuid,
 * capabilities: none unless the port is below 1024, then only CAP_NET_BIND_SERVICE). Not
 * MemoryDenyWriteExecute: V8's JIT needs writable code pages.
 */
export function serverUnit(o: ServerUnitOptions): string {
  const home = o.config.home;
  const dataDirs = Object.values(o.config.dirs).filter((d) => !isInside(d, home));
  const lowPort = [o.config.server.port, o.config.server.httpsPort].some((p) => p > 0 && p < 1024);
  const hidden = [home, o.cli, o.node, ...dataDirs].some((p) =>
    HOME_ROOTS.some((root) => isInside(p, root)),
  );
  const stopSeconds = Math.ceil(o.config.server.shutdownTimeoutMs / 1000) + 15;
  return renderUnit({
    description: `upcat site ${o.config.site.code} (update catalog, payloads and API)`,
    unit: ['After=postgresql.service'],
    execStart: [o.node, o.cli, '--home', home, 'serve'],
    service: [
      `User=${o.user}`,
      `Group=${o.user}`,
      `Environment=UPCAT_HOME=${home}`,
      `WorkingDirectory=${home}`,
      'Restart=on-failure',
      'RestartSec=5',
      `TimeoutStopSec=${stopSeconds}`,
      'UMask=0077',
      'LimitNOFILE=65536',
      // Files: read-only everywhere but the site home (and data folders configured outside it).
      'ProtectSystem=strict',
      `ProtectHome=${hidden ? 'read-only' : 'yes'}`,
      `ReadWritePaths=${[home, ...dataDirs].join(' ')}`,
      'PrivateTmp=yes',
      'PrivateDevices=yes',
      // Privileges.
      'NoNewPrivileges=yes',
      `CapabilityBoundingSet=${lowPort ? 'CAP_NET_BIND_SERVICE' : ''}`,
      ...(lowPort ? ['AmbientCapabilities=CAP_NET_BIND_SERVICE'] : []),
      'RestrictSUIDSGID=yes',
      'LockPersonality=yes',
      'RestrictRealtime=yes',
      'RestrictNamespaces=yes',
      'RemoveIPC=yes',
      // The kernel and the rest of the system.
      'ProtectKernelTunables=yes',
      'ProtectKernelModules=yes',
      'ProtectKernelLogs=yes',
      'ProtectControlGroups=yes',
      'ProtectClock=yes',
      'ProtectHostname=yes',
      'ProtectProc=invisible',
      'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX',
      'SystemCallArchitectures=native',
      'SystemCallFilter=@system-service',
      'SystemCallFilter=~@privileged',
      'SystemCallErrorNumber=EPERM',
    ],
  });
}

function isInside(p: string, dir: string): boolean {
  const rel = path.relative(dir, p);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

const run = promisify(execFile);

/**
 * Installs the service: the dedicated user (a system account without a login shell, made when
 * missing), the site home handed to it, the unit written, enabled and started. Root only.
 */
export async function installServerService(
  unit: string,
  o: { user: string; home: string; dataDirs: readonly string[] },
  uid = process.getuid?.(),
): Promise<string> {
  if (uid !== 0)
    throw new UpcatError(
      'forbidden',
      `serve install-service must run as root (it makes the user ${o.user}, hands it the site home and installs ${SERVER_UNIT_NAME}); use --dry-run to print the unit`,
    );
  const exists = await run('id', ['-u', o.user]).then(
    () => true,
    () => false,
  );
  if (!exists)
    await run('useradd', [
      '--system',
      '--user-group',
      '--home-dir',
      o.home,
      '--no-create-home',
      '--shell',
      '/usr/sbin/nologin',
      o.user,
    ]);
  for (const dir of [o.home, ...o.dataDirs]) await run('chown', ['-R', `${o.user}:${o.user}`, dir]);
  return installUnit(unit, SERVER_UNIT_NAME);
}
