import os from 'node:os';
import type { SrvRecord } from 'node:dns';
import type { Logger } from 'pino';
import { isUpcatError } from '../errors.js';
import { firstClient, nativeClient, renewedAfterRefusal, withCertificate } from './connect.js';
import { dropCertificate } from './native.js';
import { localProvider, SnapshotProvider, type InventoryProvider } from './inventory/index.js';
import { loadAgentConfig, type AgentConfig } from './config.js';
import { discoverSite, type Discovered, type SiteSource } from './discovery.js';
import { hardwareId } from './hardware-id.js';
import { Outbox } from './outbox.js';
import {
  claimsOf,
  fallbackClient,
  recordFailure,
  sendOutbox,
  type Phase,
  type Route,
} from './reporting.js';
import { resolveProperties } from './properties.js';
import {
  checkAssignment,
  machinePolicy,
  withWindowsPolicy,
  type WindowsPolicy,
} from './windows-policy.js';
import {
  checkSite,
  ensureRegistered,
  forget,
  pinPolicyKey,
  syncPolicy,
  type Facts,
} from './session.js';
import { SiteClient, type SiteInfo } from './site-client.js';
import { loadState, saveState, type AgentState } from './state.js';
import { rememberIdentityFlags } from './identity-flags.js';
import { ensurePrivateDir } from './state-dir.js';
import { openTuf } from './tuf-client.js';
import { applyPolicy, type UpdateResult } from './apply.js';

export interface AgentOptions {
  stateDir: string;
  server?: string;
  domain?: string;
  /** An inventory snapshot file that replaces the local inventory. */
  inventory?: string;
  group?: string;
  hardwareId?: string;
  root?: string;
  caCert?: string;
  /** Native mode: the site's HTTPS port when the server URL is http and it is not 8531. */
  httpsPort?: number;
  name?: string;
  enrollmentToken?: string;
  properties: Record<string, string>;
  installOptional: boolean;
  handlerTimeoutMs: number;
  agentVersion: string;
  log: Logger;
  env?: NodeJS.ProcessEnv;
  /** DNS servers for the SRV look-up (`--dns-server`), else `UPCAT_DNS_SERVERS`, else the system's. */
  dnsServers?: string[];
  /** The fallback status point's base URL when it is not the site (`--fallback-status-point`). */
  fallbackStatusPoint?: string;
  resolveSrv?: (name: string) => Promise<SrvRecord[]>;
  readResolvConf?: () => Promise<string>;
  /** The SRV weighted choice's randomness, in [0, 1) (tests fix it). */
  random?: () => number;
  /** The clock for deadlines and retry backoff (tests move it). */
  now?: () => Date;
  /** Reads upcat's Group Policy (default: the registry on Windows, nothing elsewhere). */
  readPolicy?: () => Promise<WindowsPolicy>;
}

export interface CycleReport {
  server: string;
  source: SiteSource;
  siteCode?: string;
  /** The site's mode; in native mode, whether this cycle used a client certificate. */
  mode?: 'mixed' | 'native';
  clientCertificate?: boolean;
  clientId?: string;
  status?: string;
  agentVersion: string;
  sync?: 'full' | 'incremental' | 'unchanged';
  results: UpdateResult[];
  messagesSent: number;
  messagesQueued: number;
  warnings: string[];
}

/**
 * One agent cycle (issue 6 items 1-4): find the site, check it is compatible, register, sync and
 * verify policy, refresh the signed catalog, evaluate and install, then send the state messages.
 * State is saved after every step that changes it, so a cycle killed midway loses nothing that
 * happened before. A site that cannot be reached is recorded (a `cannot_reach_site` message,
 * queued for later) and the cycle fails; so does a refusal (blocked, incompatible). A native-mode
 * site is reached on its HTTPS port with the agent's client certificate (connect.ts).
 */
export async function runCycle(opts: AgentOptions): Promise<CycleReport> {
  const opened: SiteClient[] = [];
  try {
    return await cycle(opts, opened);
  } finally {
    for (const client of opened) client.close();
  }
}

async function cycle(given: AgentOptions, opened: SiteClient[]): Promise<CycleReport> {
  await ensurePrivateDir(given.stateDir);
  // Group Policy (Windows) beats agent.json; the command line (opts) beats both.
  const policy = await (given.readPolicy ?? machinePolicy)();
  for (const w of policy.warnings) given.log.warn({ policy: 'windows' }, w);
  const config = withWindowsPolicy(await loadAgentConfig(given.stateDir), policy);
  const state = await loadState(given.stateDir);
  const opts = rememberIdentityFlags(state, given);
  const outbox = new Outbox(opts.stateDir);
  await outbox.load();
  const caCert = opts.caCert ?? config.caCert;
  const fspUrl = opts.fallbackStatusPoint ?? config.fallbackStatusPoint;
  const fsp =
    fspUrl === undefined
      ? undefined
      : await fallbackClient(fspUrl, opts.stateDir, caCert, opts.fallbackStatusPoint);
  if (fsp !== undefined) opened.push(fsp);
  const hw = await hardwareId(opts.hardwareId);
  for (const w of hw.warnings) opts.log.warn({ hardwareId: 'fallback' }, w);
  const provider = await inventoryOf(opts);
  const facts = await factsOf(opts, config, hw.id, provider);
  const save = async (): Promise<void> => saveState(opts.stateDir, state);
  const use = (client: SiteClient): SiteClient => {
    client.identify(facts.hardwareId);
    opened.push(client);
    return client;
  };
  const route: Route = {
    site: undefined,
    clientRoutes: true,
    fsp,
    claims: claimsOf(facts, state),
  };

  let found: Discovered;
  try {
    found = await discoverSite({
      ...(opts.server === undefined ? {} : { flag: opts.server }),
      ...(policy.server === undefined ? {} : { policy: policy.server }),
      ...(config.server === undefined ? {} : { provisioned: config.server }),
      env: opts.env ?? process.env,
      ...(opts.domain === undefined ? {} : { domain: opts.domain }),
      ...(state.server === undefined ? {} : { remembered: state.server }),
      ...(opts.dnsServers === undefined ? {} : { dnsServers: opts.dnsServers }),
      ...(opts.resolveSrv === undefined ? {} : { resolveSrv: opts.resolveSrv }),
      ...(opts.readResolvConf === undefined ? {} : { readResolvConf: opts.readResolvConf }),
      ...(opts.random === undefined ? {} : { random: opts.random }),
    });
  } catch (err) {
    // No site to talk to: only a separately configured fallback status point can hear of it.
    if (fsp !== undefined) {
      await recordFailure(state, outbox, err, 'session', opts.log);
      await save();
      await sendOutbox(outbox, route, undefined, true);
    }
    throw err;
  }
  const report: CycleReport = {
    server: found.url,
    source: found.source,
    agentVersion: opts.agentVersion,
    results: [],
    messagesSent: 0,
    messagesQueued: 0,
    warnings: hw.warnings,
  };
  state.agentVersion = opts.agentVersion;
  const failed = async (err: unknown, phase: Phase): Promise<unknown> => {
    await recordFailure(state, outbox, err, phase, opts.log);
    await save();
    route.claims = claimsOf(facts, state);
    await sendOutbox(outbox, route, report, phase === 'session');
    return err;
  };

  // Until the site is read, failures are reported over the URL found (plain or pinned HTTPS).
  // Each candidate (DNS SRV gives several, in RFC 2782 order) is tried until one answers.
  let site: SiteClient | undefined;
  let info: SiteInfo | undefined;
  let lastError: unknown;
  for (const url of found.candidates) {
    try {
      site = use(await firstClient(url, state, opts.stateDir, caCert, report.warnings));
      route.site = site;
      info = await site.site();
      report.server = url;
      break;
    } catch (err) {
      lastError = err;
      opts.log.warn({ server: url, err: (err as Error).message }, 'the site does not answer');
    }
  }
  if (site === undefined || info === undefined) throw await failed(lastError, 'session');
  let waiting: boolean;
  try {
    checkSite(info, opts.agentVersion);
    checkAssignment(info, config.siteCode);
    if (state.siteCode !== undefined && state.siteCode !== info.siteCode) {
      resetForNewSite(state);
      await dropCertificate(opts.stateDir);
    }
    state.server = report.server;
    state.siteCode = info.siteCode;
    report.siteCode = info.siteCode;
    report.mode = info.mode;
    const key = pinPolicyKey(state, info, config.policyKey);
    const native =
      info.mode === 'native'
        ? await nativeClient({
            current: site,
            info,
            state,
            stateDir: opts.stateDir,
            provisionedCa: caCert,
            httpsPort: opts.httpsPort ?? config.httpsPort,
            warnings: report.warnings,
          })
        : undefined;
    if (native === undefined) delete state.nativeServer;
    else site = route.site = use(native.site);
    const registered = await ensureRegistered(site, state, {
      ...facts,
      ...(native === undefined ? {} : { csr: native.session.csr }),
    });
    report.clientId = state.clientId;
    await save();
    if (native !== undefined)
      site = route.site = use(
        await withCertificate(site, native.session, state, opts.stateDir, registered),
      );
    // A native site answers sync and status only over mutual TLS: until approval issues the
    // certificate there is no policy to read, and messages go to the fallback status point.
    waiting = native !== undefined && !site.hasCertificate;
    route.clientRoutes = !waiting;
    if (!waiting) {
      try {
        report.sync = await syncPolicy(site, state, key, info.siteCode);
      } catch (err) {
        if (isUpcatError(err) && err.code === 'client_replaced') {
          // Another registration of this hardware ID replaced the record (issue 13 item 4): say
          // so, register again at once and sync under the new record.
          report.warnings.push(`${err.message} (client_replaced): registered again`);
          forget(state, site);
          if (native !== undefined) {
            // The certificate names the replaced record: enrol afresh with a request, over TLS
            // without it, and wait for approval like a new machine if the site asks for one.
            await dropCertificate(opts.stateDir);
            site = route.site = use(
              new SiteClient(native.session.base, undefined, { ca: native.session.caPem }),
            );
          }
          const again = await ensureRegistered(site, state, {
            ...facts,
            ...(native === undefined ? {} : { csr: native.session.csr }),
          });
          report.clientId = state.clientId;
          await save();
          if (native !== undefined)
            site = route.site = use(
              await withCertificate(site, native.session, state, opts.stateDir, again),
            );
          waiting = native !== undefined && !site.hasCertificate;
          route.clientRoutes = !waiting;
          if (!waiting) report.sync = await syncPolicy(site, state, key, info.siteCode);
        } else {
          // A revoked certificate: if an unblock issued a new one since, take it and sync again.
          const renewed =
            native !== undefined && isUpcatError(err) && err.code === 'client_blocked'
              ? await renewedAfterRefusal(site, native.session, state, opts.stateDir)
              : undefined;
          if (renewed === undefined) throw err;
          site = route.site = use(renewed);
          report.sync = await syncPolicy(site, state, key, info.siteCode);
        }
      }
      state.lastSync = new Date().toISOString();
    }
    report.clientCertificate = site.hasCertificate;
    report.status = state.registration?.status;
    await save();
  } catch (err) {
    throw await failed(err, 'session');
  }
  if (waiting) {
    await sendOutbox(outbox, route, report, false);
    return report;
  }

  try {
    const tuf = await openTuf(opts.stateDir, site, opts.root ?? config.root);
    if (tuf.rootSource === 'first use')
      report.warnings.push(
        'trusted the site TUF root on first use (provision --root to avoid this)',
      );
    await tuf.updater.refresh();
    const properties = resolveProperties(
      opts.properties,
      config.properties,
      info.installationProperties,
    );
    report.results = await applyPolicy({
      site,
      state,
      outbox,
      updater: tuf.updater,
      provider,
      properties,
      stateDir: opts.stateDir,
      caCert,
      installOptional: opts.installOptional,
      handlerTimeoutMs: opts.handlerTimeoutMs,
      clientName: facts.name,
      save,
      log: opts.log,
      ...(opts.now === undefined ? {} : { now: opts.now() }),
    });
    delete state.lastError;
  } catch (err) {
    throw await failed(err, 'catalog');
  }
  await save();
  route.claims = claimsOf(facts, state);
  await sendOutbox(outbox, route, report, false);
  return report;
}

function resetForNewSite(state: AgentState): void {
  delete state.clientId;
  delete state.secret;
  delete state.registration;
  delete state.policyKey;
  delete state.nativeServer;
  state.anchor = undefined;
  state.policy = [];
}

async function inventoryOf(opts: AgentOptions): Promise<InventoryProvider> {
  return opts.inventory === undefined ? localProvider() : SnapshotProvider.fromFile(opts.inventory);
}

const ARCH: Record<string, string> = { x64: 'x64', arm64: 'arm64', ia32: 'x86', arm: 'arm' };

async function factsOf(
  opts: AgentOptions,
  config: AgentConfig,
  hw: string,
  provider: InventoryProvider,
): Promise<Facts> {
  // A snapshot stands for another machine: its platform is what the site should hear.
  const snapshot =
    provider instanceof SnapshotProvider
      ? await provider.collect({
          files: [],
          registryKeys: [],
          msiProducts: [],
          wmiClasses: [],
          facts: [],
        })
      : undefined;
  const platform = snapshot?.platform;
  const group = opts.group ?? config.group;
  const token = opts.enrollmentToken ?? config.enrollmentToken;
  return {
    hardwareId: hw,
    name: (opts.name ?? os.hostname()).slice(0, 255) || 'unnamed',
    os:
      platform !== undefined
        ? `${platform.name} ${platform.version ?? ''}`.trim()
        : `${process.platform} ${os.release()}`,
    architecture: platform?.architecture ?? ARCH[process.arch] ?? process.arch,
    clientVersion: opts.agentVersion,
    ...(group === undefined ? {} : { group }),
    ...(token === undefined ? {} : { enrollmentToken: token }),
  };
}
