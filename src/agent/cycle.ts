import os from 'node:os';
import type { SrvRecord } from 'node:dns';
import type { Logger } from 'pino';
import { isUpcatError } from '../errors.js';
import { firstClient, nativeClient, renewedAfterRefusal, withCertificate } from './connect.js';
import { dropCertificate } from './native.js';
import { localProvider, SnapshotProvider, type InventoryProvider } from './inventory/index.js';
import { loadAgentConfig, type AgentConfig } from './config.js';
import { discoverSite, type SiteSource } from './discovery.js';
import { hardwareId } from './hardware-id.js';
import { Outbox, type Sender } from './outbox.js';
import { resolveProperties } from './properties.js';
import { checkSite, ensureRegistered, pinPolicyKey, syncPolicy, type Facts } from './session.js';
import { isUnreachable, type SiteClient, type SiteInfo } from './site-client.js';
import { loadState, saveState, type AgentState } from './state.js';
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
  resolveSrv?: (name: string) => Promise<SrvRecord[]>;
  readResolvConf?: () => Promise<string>;
  /** The clock for deadlines and retry backoff (tests move it). */
  now?: () => Date;
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

async function cycle(opts: AgentOptions, opened: SiteClient[]): Promise<CycleReport> {
  await ensurePrivateDir(opts.stateDir);
  const config = await loadAgentConfig(opts.stateDir);
  const state = await loadState(opts.stateDir);
  const outbox = new Outbox(opts.stateDir);
  await outbox.load();
  const found = await discoverSite({
    ...(opts.server === undefined ? {} : { flag: opts.server }),
    ...(config.server === undefined ? {} : { provisioned: config.server }),
    env: opts.env ?? process.env,
    ...(opts.domain === undefined ? {} : { domain: opts.domain }),
    ...(state.server === undefined ? {} : { remembered: state.server }),
    ...(opts.resolveSrv === undefined ? {} : { resolveSrv: opts.resolveSrv }),
    ...(opts.readResolvConf === undefined ? {} : { readResolvConf: opts.readResolvConf }),
  });
  const hw = await hardwareId(opts.hardwareId);
  for (const w of hw.warnings) opts.log.warn({ hardwareId: 'fallback' }, w);
  const provider = await inventoryOf(opts);
  const facts = await factsOf(opts, config, hw.id, provider);
  const report: CycleReport = {
    server: found.url,
    source: found.source,
    agentVersion: opts.agentVersion,
    results: [],
    messagesSent: 0,
    messagesQueued: 0,
    warnings: hw.warnings,
  };
  const save = async (): Promise<void> => saveState(opts.stateDir, state);
  state.agentVersion = opts.agentVersion;
  const caCert = opts.caCert ?? config.caCert;
  const use = (client: SiteClient): SiteClient => {
    opened.push(client);
    return client;
  };

  let info: SiteInfo;
  // Until the site is read, failures are reported over the URL found (plain or pinned HTTPS).
  let site = use(
    await firstClient(found.url, state, opts.stateDir, caCert, report.warnings).catch(
      async (err: unknown) => {
        await recordFailure(state, outbox, err, opts);
        await save();
        throw err;
      },
    ),
  );
  try {
    info = await site.site();
    checkSite(info, opts.agentVersion);
    if (state.siteCode !== undefined && state.siteCode !== info.siteCode) {
      resetForNewSite(state);
      await dropCertificate(opts.stateDir);
    }
    state.server = found.url;
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
    else site = use(native.site);
    const registered = await ensureRegistered(site, state, {
      ...facts,
      ...(native === undefined ? {} : { csr: native.session.csr }),
    });
    report.clientId = state.clientId;
    await save();
    if (native !== undefined)
      site = use(await withCertificate(site, native.session, state, opts.stateDir, registered));
    try {
      report.sync = await syncPolicy(site, state, key, info.siteCode);
    } catch (err) {
      // A revoked certificate: if an unblock issued a new one since, take it and sync again.
      const renewed =
        native !== undefined && isUpcatError(err) && err.code === 'client_blocked'
          ? await renewedAfterRefusal(site, native.session, state, opts.stateDir)
          : undefined;
      if (renewed === undefined) throw err;
      site = use(renewed);
      report.sync = await syncPolicy(site, state, key, info.siteCode);
    }
    report.clientCertificate = site.hasCertificate;
    report.status = state.registration?.status;
    state.lastSync = new Date().toISOString();
    await save();
  } catch (err) {
    await recordFailure(state, outbox, err, opts);
    await save();
    await sendOutbox(outbox, site, state, facts, report, true);
    throw err;
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
    await recordFailure(state, outbox, err, opts);
    await save();
    await sendOutbox(outbox, site, state, facts, report, false);
    throw err;
  }
  await save();
  await sendOutbox(outbox, site, state, facts, report, false);
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

async function recordFailure(
  state: AgentState,
  outbox: Outbox,
  err: unknown,
  opts: AgentOptions,
): Promise<void> {
  const message = err instanceof Error ? err.message : String(err);
  state.lastError = message;
  state.history.push({ time: new Date().toISOString(), state: 'error', detail: message });
  opts.log.warn({ err: message }, 'agent cycle failed');
  if (isUnreachable(err)) {
    await outbox.add({ topic: 'client', state: 'cannot_reach_site', detail: message });
  }
}

/**
 * Sends queued messages: to /v1/status when the client is registered and the site takes its
 * secret, else to the fallback status point (not registered, refused, blocked). Unreachable:
 * everything stays queued for the next cycle.
 */
async function sendOutbox(
  outbox: Outbox,
  site: SiteClient,
  state: AgentState,
  facts: Facts,
  report: CycleReport,
  preferFallback: boolean,
): Promise<void> {
  const fallback: Sender = {
    kind: 'fallback',
    site,
    claims: {
      hardwareId: facts.hardwareId,
      ...(state.clientId === undefined ? {} : { clientId: state.clientId }),
      name: facts.name,
      clientVersion: facts.clientVersion,
    },
  };
  let result =
    !site.authenticated || preferFallback
      ? await outbox.flush(fallback)
      : await outbox.flush({ kind: 'client', site });
  report.messagesSent += result.sent;
  if (
    result.error !== undefined &&
    !isUnreachable(result.error) &&
    !preferFallback &&
    site.authenticated
  ) {
    result = await outbox.flush(fallback);
    report.messagesSent += result.sent;
  }
  report.messagesQueued = outbox.size;
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

export function isRefusal(err: unknown): boolean {
  return (
    isUpcatError(err) && ['client_blocked', 'unauthorized', 'incompatible_site'].includes(err.code)
  );
}
