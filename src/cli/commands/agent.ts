import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CommanderError, Option, type Command } from '../commander.js';
import type { AgentOptions, CycleReport } from '../../agent/cycle.js';
import { parsePropertyFlags } from '../../agent/properties.js';
import { DEFAULT_UNIT_DIR, SERVICE_STATE_DIR } from '../../agent/service-unit.js';
import type { AgentStatus } from '../../agent/status.js';
import { UpcatError, isUpcatError, type ErrorCode } from '../../errors.js';
import { SITE_VERSION } from '../../version.js';
import { globalOptions, output } from '../context.js';

interface AgentFlags {
  server?: string;
  domain?: string;
  stateDir?: string;
  once?: boolean;
  interval?: string;
  inventory?: string;
  group?: string;
  hardwareId?: string;
  root?: string;
  caCert?: string;
  httpsPort?: string;
  name?: string;
  enrollmentToken?: string;
  property: string[];
  dnsServer: string[];
  fallbackStatusPoint?: string;
  installOptional?: boolean;
  handlerTimeout: string;
  agentVersion: string;
  json?: boolean;
}

/** Where state lives unless --state-dir says: the service's directory as root, else the user's. */
export function defaultStateDir(): string {
  return process.getuid?.() === 0 ? SERVICE_STATE_DIR : path.join(os.homedir(), '.upcat-agent');
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

// The agent's cycle (zod, node-forge, tuf-js, pino), its status reader and its self-upgrade are
// loaded by the action that uses them, so `agent status` and `agent install-service` do not
// compile the whole cycle (issue 16: a CLI that starts like a tool).
const cycleModule = () => import('../../agent/cycle.js');
const upgradeModule = () => import('../../agent/self-upgrade.js');

/** `upcat agent` (issue 6): the endpoint agent, its status, and its service unit. */
export function registerAgent(program: Command): void {
  const agent = program
    .command('agent')
    .description('the endpoint agent: find the site, register, sync, install updates, report')
    .option(
      '--server <url>',
      'the site (else agent.json, UPCAT_SERVER, or DNS SRV _upcat._tcp.<domain>)',
    )
    .option(
      '--domain <domain>',
      'the DNS domain of the SRV record (default: the search domain of /etc/resolv.conf)',
    )
    .option(
      '--state-dir <dir>',
      `state directory, created 0700 (default: ${SERVICE_STATE_DIR} as root, else ~/.upcat-agent)`,
    )
    .option('--once', 'run one cycle and exit (the default when --interval is not given)')
    .option('--interval <seconds>', 'run a cycle every so many seconds until stopped')
    .option(
      '--inventory <snapshot.json>',
      'an inventory snapshot (docs/RULES.md §2.1) instead of this machine',
    )
    .option('--group <name>', 'the targeting hint: the group to join')
    .option('--hardware-id <id>', 'override the computed hardware ID')
    .option(
      '--root <root.json>',
      'the TUF root to trust (else agent.json root, else the site root on first use)',
    )
    .option(
      '--ca-cert <ca.pem>',
      'the site CA certificate (else agent.json caCert, else /pki/ca.pem on first use)',
    )
    .option(
      '--https-port <port>',
      'native mode: the site HTTPS port when --server is http (else agent.json httpsPort, else 8531)',
    )
    .option('--name <name>', 'the name to register (default: the host name)')
    .option('--enrollment-token <token>', 'an enrollment token (approval on registration)')
    .option(
      '--property <name=value>',
      'an installation property (repeatable; beats agent.json and the site)',
      collect,
      [],
    )
    .option(
      '--fallback-status-point <url>',
      'where state messages go when the site refuses the client or cannot be reached (else agent.json fallbackStatusPoint, else the site)',
    )
    .option(
      '--dns-server <ip[:port]>',
      "a DNS server for the SRV look-up (repeatable; else UPCAT_DNS_SERVERS, else the system's)",
      collect,
      [],
    )
    .option('--install-optional', 'install optional deployments too')
    .option('--handler-timeout <seconds>', 'how long an installer may run', '3600')
    .addOption(
      new Option('--agent-version <version>', 'the version this agent reports')
        .default(SITE_VERSION)
        .hideHelp(),
    )
    .option('--json', 'print each cycle report as JSON')
    .action(async (opts: AgentFlags, cmd: Command) => {
      if (opts.once === true && opts.interval !== undefined)
        throw new UpcatError(
          'invalid_input',
          '--once and --interval cannot be given together: --once runs one cycle, --interval runs one every so many seconds',
        );
      const intervalSeconds =
        opts.interval === undefined ? undefined : seconds(opts.interval, '--interval');
      const stateDir = path.resolve(opts.stateDir ?? defaultStateDir());
      process.umask(0o077); // whatever the agent or tuf-js writes is private
      const args = process.argv.slice(process.argv.indexOf('agent', 2) + 1);
      if (await handOverIfNewer(stateDir, opts.agentVersion, args)) return;
      const g = globalOptions(cmd);
      const [{ runCycle }, { createLogger }] = await Promise.all([
        cycleModule(),
        import('../../log.js'),
      ]);
      const options = agentOptions(
        opts,
        stateDir,
        createLogger(g.verbose === true ? 'debug' : 'warn'),
      );
      if (intervalSeconds === undefined) {
        const report = await runCycle(options).catch((err: unknown) => {
          throw coded(err);
        });
        printReport(opts.json, report);
        // A response refused as tampered (download_rejected) did not install either: the exit
        // status says so, though the agent does not back off from it.
        const failed = report.results.filter(
          (r) => r.state === 'failed' || r.state === 'download_rejected',
        );
        if (failed.length > 0)
          throw new UpcatError(
            'integrity',
            `${failed.length} update(s) failed: ${failed.map((f) => `${f.title ?? f.updateId}: ${f.detail ?? ''}`).join('; ')}`,
          );
        return;
      }
      const { newerEntryPoint } = await upgradeModule();
      const upgraded = await loop(options, intervalSeconds, opts.json, async () =>
        newerEntryPoint(stateDir, opts.agentVersion),
      );
      // A cycle installed a newer agent build: it runs the next cycle (self-upgrade, item 6).
      if (upgraded) await handOverIfNewer(stateDir, opts.agentVersion, args);
    });

  agent
    .command('status')
    .description('site, last sync, installed, pending and failed updates, last error')
    .option('--state-dir <dir>', 'state directory (default as for upcat agent)')
    .option('--json', 'print JSON')
    .action(async (own: { stateDir?: string; json?: boolean }, cmd: Command) => {
      const opts = withParent(own, cmd);
      const { agentStatus } = await import('../../agent/status.js');
      const status = await agentStatus(path.resolve(opts.stateDir ?? defaultStateDir()));
      output(opts.json, status, () => humanStatus(status));
    });

  agent
    .command('install-service')
    .description('write and enable the systemd unit that runs the agent as a service (root only)')
    .option('--server <url>', 'the site the service uses (else agent.json, UPCAT_SERVER or DNS)')
    .option('--state-dir <dir>', 'state directory of the service', SERVICE_STATE_DIR)
    .option('--interval <seconds>', 'seconds between cycles', '3600')
    .option('--dry-run', 'print the unit instead of installing it')
    .action(
      async (
        own: { server?: string; stateDir: string; interval: string; dryRun?: boolean },
        cmd: Command,
      ) => {
        const opts = withParent(own, cmd);
        const { installUnit, systemdUnit } = await import('../../agent/service-unit.js');
        const unit = systemdUnit({
          node: process.execPath,
          cli: path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../bin/upcat.js'),
          ...(opts.server === undefined ? {} : { server: opts.server }),
          stateDir: path.resolve(opts.stateDir),
          intervalSeconds: seconds(opts.interval, '--interval'),
        });
        if (opts.dryRun === true) {
          process.stdout.write(unit);
          return;
        }
        const file = await installUnit(unit, DEFAULT_UNIT_DIR);
        process.stdout.write(`installed and started ${file}\n`);
      },
    );
}

/**
 * `upcat agent status --json`: commander gives the flags that `agent` itself also declares
 * (--json, --state-dir, --server, --interval) to `agent`; those given there win over defaults.
 */
function withParent<T extends object>(own: T, cmd: Command): T {
  const parent = cmd.parent?.opts<Record<string, unknown>>() ?? {};
  const given = Object.fromEntries(
    Object.entries(parent).filter(([k, v]) =>
      k in own || ['json', 'stateDir', 'server', 'interval'].includes(k)
        ? v !== undefined && cmd.parent?.getOptionValueSource(k) === 'cli'
        : false,
    ),
  );
  return { ...own, ...given };
}

/**
 * Runs the newer agent build that `<state>/agent/current` names, if any, with our arguments
 * (docs/AGENT.md, "Self-upgrade"); its exit code becomes ours. False when there is none.
 */
async function handOverIfNewer(
  stateDir: string,
  running: string,
  args: readonly string[],
): Promise<boolean> {
  const { handOver, newerEntryPoint } = await upgradeModule();
  const newer = await newerEntryPoint(stateDir, running);
  if (newer === undefined) return false;
  const code = await handOver(newer.entry, newer.version, args);
  if (code !== 0) throw new CommanderError(code, 'upcat.agent.handover', '');
  return true;
}

function seconds(value: string, what: string): number {
  if (!/^\d{1,7}$/.test(value) || Number(value) < 1)
    throw new UpcatError('invalid_input', `${what}: "${value}" is not a whole number of seconds`);
  return Number(value);
}

function port(value: string): number {
  if (!/^\d{1,5}$/.test(value) || Number(value) < 1 || Number(value) > 65535)
    throw new UpcatError('invalid_input', `--https-port: "${value}" is not a port number`);
  return Number(value);
}

function agentOptions(opts: AgentFlags, stateDir: string, log: AgentOptions['log']): AgentOptions {
  const pick = <K extends keyof AgentFlags>(k: K): Partial<Record<K, AgentFlags[K]>> =>
    opts[k] === undefined ? {} : ({ [k]: opts[k] } as Partial<Record<K, AgentFlags[K]>>);
  return {
    stateDir,
    ...pick('server'),
    ...pick('domain'),
    ...(opts.inventory === undefined ? {} : { inventory: path.resolve(opts.inventory) }),
    ...pick('group'),
    ...pick('hardwareId'),
    ...(opts.root === undefined ? {} : { root: path.resolve(opts.root) }),
    ...(opts.caCert === undefined ? {} : { caCert: path.resolve(opts.caCert) }),
    ...(opts.httpsPort === undefined ? {} : { httpsPort: port(opts.httpsPort) }),
    ...pick('name'),
    ...pick('enrollmentToken'),
    ...pick('fallbackStatusPoint'),
    ...(opts.dnsServer.length === 0 ? {} : { dnsServers: opts.dnsServer }),
    properties: parsePropertyFlags(opts.property),
    installOptional: opts.installOptional === true,
    handlerTimeoutMs: seconds(opts.handlerTimeout, '--handler-timeout') * 1000,
    agentVersion: opts.agentVersion,
    log,
  };
}

/**
 * Cycles until SIGTERM/SIGINT; a failed cycle is logged and retried at the next interval.
 * Returns true, without waiting, when a cycle left a newer agent build to hand over to.
 */
async function loop(
  options: AgentOptions,
  intervalSeconds: number,
  json: boolean | undefined,
  newer: () => Promise<unknown>,
): Promise<boolean> {
  const { runCycle } = await cycleModule();
  let stop: (() => void) | undefined;
  let stopping = false;
  const onSignal = (): void => {
    stopping = true;
    stop?.();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  try {
    while (!stopping) {
      try {
        printReport(json, await runCycle(options));
      } catch (err) {
        process.stderr.write(`upcat: agent cycle failed: ${(coded(err) as Error).message}\n`);
      }
      if (!stopping && (await newer().catch(() => undefined)) !== undefined) return true;
      // Jitter (±10%) keeps a fleet started together from syncing in lock step.
      const wait = intervalSeconds * 1000 * (0.9 + Math.random() * 0.2);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, wait);
        stop = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    return false;
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
}

function printReport(json: boolean | undefined, r: CycleReport): void {
  output(json, r, () => {
    const lines = [
      `site ${r.siteCode ?? '?'} at ${r.server} (${r.source}); client ${r.clientId ?? '?'} (${r.status ?? '?'}); agent ${r.agentVersion}; policy ${r.sync ?? '?'}`,
      ...r.results.map(
        (x) =>
          `  ${x.state.padEnd(15)} ${x.title ?? x.updateId} (rev ${x.revision})${x.detail === undefined ? '' : `: ${x.detail}`}`,
      ),
      `messages sent ${r.messagesSent}, queued ${r.messagesQueued}`,
      ...r.warnings.map((w) => `warning: ${w}`),
    ];
    return lines.join('\n');
  });
}

export function humanStatus(s: AgentStatus): string {
  return [
    `site: ${s.siteCode ?? '(none)'} at ${s.server ?? '(not found yet)'}`,
    `client: ${s.clientId ?? '(not registered)'} (${s.approval ?? '-'}), agent ${s.agentVersion ?? '?'}${s.installedAgentVersion === null ? '' : `, installed agent build ${s.installedAgentVersion}`}`,
    ...(s.note === null ? [] : [`note: ${s.note}`]),
    ...(s.nativeServer === null
      ? []
      : [
          `native mode at ${s.nativeServer}: ${s.certificate === null ? 'no client certificate yet' : `client certificate ${s.certificate.serial}, valid until ${s.certificate.notAfter}`}`,
        ]),
    `last sync: ${s.lastSync ?? 'never'}`,
    `installed: ${s.installed.length === 0 ? 'none' : ''}`,
    ...s.installed.map(
      (i) =>
        `  ${i.product} ${i.version} (${i.updateId} rev ${i.revision})${i.state === 'already_installed' ? ' already installed' : ''}${i.rebootPending ? ' reboot pending' : ''}`,
    ),
    `not applicable: ${s.notApplicable.length === 0 ? 'none' : ''}`,
    ...s.notApplicable.map(
      (n) => `  ${n.updateId} rev ${n.revision}${n.reason === null ? '' : `: ${n.reason}`}`,
    ),
    `pending: ${s.pending.length === 0 ? 'none' : ''}`,
    ...s.pending.map(
      (p) =>
        `  ${p.action} ${p.updateId} rev ${p.revision}${p.deadline === null ? '' : ` by ${p.deadline}`}`,
    ),
    `failed: ${s.failed.length === 0 ? 'none' : ''}`,
    ...s.failed.map(
      (f) =>
        `  ${f.updateId} rev ${f.revision}: ${f.detail} (${f.attempts} attempt(s), next after ${f.retryAfter})`,
    ),
    `last error: ${s.lastError ?? 'none'}`,
    `queued messages: ${s.queuedMessages}`,
  ].join('\n');
}

/** The codes of a refusal (by the site, or by the agent of the site); not usage errors. */
const REFUSALS = new Set<ErrorCode>([
  'unauthorized',
  'forbidden',
  'client_blocked',
  'client_replaced',
  'certificate_required',
  'incompatible_site',
  'rate_limited',
  'integrity',
]);

/**
 * Every refusal names its code on the agent's one line (issue 13 item 7), whether the site sent
 * it (site-client.ts already adds it) or the agent decided (an incompatible site, a pinned key
 * that changed): a script or an operator can tell `incompatible_site` from `client_blocked`.
 */
export function coded(err: unknown): unknown {
  if (!isUpcatError(err) || !REFUSALS.has(err.code) || err.message.endsWith(`(${err.code})`))
    return err;
  return new UpcatError(err.code, `${err.message} (${err.code})`, {
    cause: err,
    ...(err.details === undefined ? {} : { details: { ...err.details } }),
  });
}
