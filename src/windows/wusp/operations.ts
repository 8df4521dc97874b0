/**
 * The MS-WUSP operations upcat serves, each a plain async function from a typed request to a
 * typed answer ([MS-WUSP] 3.1.5). Cookie checks, registration and blocking are applied here the
 * same way for every operation; the SOAP layer (soap.ts, dispatch.ts) never decides anything.
 */
import type { Logger } from 'pino';
import type { SiteConfig } from '../../config/schema.js';
import type { ContactRecorder } from '../../site/contacts.js';
import type { RegistrationService } from '../../site/registration.js';
import type { StateMessageService } from '../../site/state-messages.js';
import { PolicyCache } from '../../sync/policy-cache.js';
import type { PolicyEntry } from '../../sync/policy.js';
import type { ChangeWatcher } from '../../storage/changes.js';
import type { Db } from '../../storage/db.js';
import { currentCatalogVersion } from '../../storage/catalog-repo.js';
import { buildCatalog, type WuaCatalog } from './catalog-model.js';
import { blockedFault, WuspComputers, type Computer } from './computers.js';
import { loadServerState, PLUG_IN_ID, type ServerState, type WuspSettings } from './config.js';
import type { WuspContent } from './content.js';
import type {
  AuthorizationCookieAnswer,
  ConfigAnswer,
  CookieAnswer,
  ExtendedInfoAnswer,
  FileLocation,
  FileLocationsAnswer,
  GetAuthorizationCookieRequest,
  GetConfigRequest,
  GetCookieRequest,
  GetExtendedUpdateInfoRequest,
  GetFileLocationsRequest,
  RefreshCacheAnswer,
  RefreshCacheRequest,
  RegisterComputerRequest,
  ReportEventBatchRequest,
  SyncAnswer,
  SyncUpdatesRequest,
  WireCookie,
} from './contract.js';
import { CookieError, CookieSealer, type CookieState } from './cookies.js';
import { eventsToMessages } from './events.js';
import { ComputerMemory } from './computer-memory.js';
import { WuspFault } from './soap.js';
import { computeSync, neededActions, type SyncResult } from './sync.js';

const GUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const PROTOCOL = /^(\d{1,4})\.(\d{1,4})$/;

export interface WuspDeps {
  db: Db;
  log: Logger;
  config: SiteConfig;
  registration: RegistrationService;
  status: StateMessageService;
  contacts: ContactRecorder;
  content: WuspContent;
  poolPathOf(sha256: string): string;
  /** The site's sync key (signing/sync/anchor.key); cookie keys are derived from it. */
  siteKey: Buffer;
  settings: WuspSettings;
  /** The site's change watcher: when given (and running), scans remember computers. */
  changes?: ChangeWatcher;
}

/** What every call after GetCookie carries: its opened cookie and the computer, if registered. */
interface Caller {
  state: CookieState;
  computer: Computer | undefined;
}

export class WuspService {
  private readonly sealer: CookieSealer;
  readonly computers: WuspComputers;
  /** Registered computers for the read-only operations (computer-memory.ts). */
  readonly memory: ComputerMemory;
  /** The wrapped payloads (the /Content route serves them). */
  readonly content: WuspContent;
  private server: Promise<ServerState> | undefined;
  private catalog: { version: number; model: Promise<WuaCatalog> } | undefined;
  private readonly policies = new PolicyCache();
  private readonly syncMemo = new WeakMap<PolicyEntry[], Map<string, SyncResult>>();

  constructor(private readonly deps: WuspDeps) {
    this.content = deps.content;
    this.sealer = new CookieSealer(deps.siteKey);
    this.computers = new WuspComputers(deps, deps.siteKey);
    this.memory = new ComputerMemory(deps.changes, deps.config.server.wuspCacheComputers);
  }

  /** Reads the registered computers into memory (upcat serve, at start, in the background). */
  warmComputers(): Promise<number> {
    return this.memory.warm((after, limit) => this.computers.page(after, limit));
  }

  private serverState(): Promise<ServerState> {
    this.server ??= loadServerState(this.deps.db, this.deps.settings).catch((err: unknown) => {
      this.server = undefined;
      throw err;
    });
    return this.server;
  }

  /** The model of the catalog at `version`, built once per version by whichever call needs it. */
  async model(version?: number): Promise<WuaCatalog> {
    const v = version ?? (await currentCatalogVersion(this.deps.db));
    if (this.catalog === undefined || this.catalog.version !== v) {
      const model = buildCatalog(
        {
          db: this.deps.db,
          log: this.deps.log,
          content: this.deps.content,
          poolPathOf: this.deps.poolPathOf,
          companyName: this.deps.config.site.name,
        },
        v,
      );
      this.catalog = { version: v, model };
      model.catch(() => {
        if (this.catalog?.model === model) this.catalog = undefined;
      });
    }
    return this.catalog.model;
  }

  // --- 3.1.5.2 GetConfig -----------------------------------------------------------------

  async getConfig(req: GetConfigRequest): Promise<ConfigAnswer> {
    if (req.protocolVersion !== '' && !PROTOCOL.test(req.protocolVersion)) {
      throw new WuspFault(
        'InvalidParameters',
        'protocolVersion: must be a two-part version such as 1.0',
      );
    }
    return (await this.serverState()).config;
  }

  // --- 3.1.5.3 GetAuthorizationCookie ------------------------------------------------------

  async getAuthorizationCookie(
    req: GetAuthorizationCookieRequest,
    source?: string,
  ): Promise<AuthorizationCookieAnswer> {
    if (!GUID.test(req.clientId))
      throw new WuspFault('InvalidParameters', 'clientId: must be a SusClientId GUID');
    if (req.dnsName === '' || !/^[A-Za-z0-9._-]{1,255}$/.test(req.dnsName)) {
      throw new WuspFault('InvalidParameters', 'dnsName: must be a DNS name');
    }
    const susClientId = req.clientId.toLowerCase();
    const known = await this.computers.find(susClientId);
    if (known?.client.blocked === true) throw blockedFault();
    if (known !== undefined) {
      await this.computers.retarget(known, req.targetGroupName, source);
      this.memory.clear();
    }
    const cookieData = this.sealer.sealAuthorization({
      susClientId,
      expiresAt: Date.now() + this.deps.settings.authorizationLifetimeMs,
      targetGroup: truncateUtf8(req.targetGroupName, 255),
      dnsName: truncateUtf8(req.dnsName, 255),
    });
    return { plugInId: PLUG_IN_ID, cookieData };
  }

  // --- 3.1.5.4 GetCookie ---------------------------------------------------------------------

  async getCookie(req: GetCookieRequest): Promise<CookieAnswer> {
    const server = await this.serverState();
    const [auth] = req.authCookies;
    if (req.authCookies.length !== 1 || auth?.cookieData === undefined) {
      throw new WuspFault(
        'InvalidAuthorizationCookie',
        'authCookies: must hold exactly one authorization cookie of this server',
      );
    }
    let authorization;
    try {
      authorization = this.sealer.openAuthorization(auth.cookieData);
    } catch (err) {
      if (err instanceof CookieError)
        throw new WuspFault('InvalidAuthorizationCookie', `authCookies: ${err.message}`);
      throw err;
    }
    if (authorization.expiresAt < Date.now()) {
      throw new WuspFault(
        'InvalidAuthorizationCookie',
        'authCookies: the authorization cookie expired',
      );
    }
    // An oldCookie whose EncryptedData is nil (the section 4 sample) counts as none.
    let anchor = { catalogVersion: 0, policyEpoch: 0 };
    if (req.oldCookie?.encryptedData !== undefined) {
      const old = this.open(req.oldCookie.encryptedData);
      if (old.serverId !== server.serverId)
        throw new WuspFault('ServerChanged', 'oldCookie: issued by another server');
      if (old.susClientId !== authorization.susClientId)
        throw new WuspFault('InvalidCookie', 'oldCookie: issued to another computer');
      anchor = old.anchor;
    }
    if (req.lastChange !== server.config.lastChange) {
      throw new WuspFault(
        'ConfigChanged',
        'lastChange: the configuration changed; call GetConfig again',
      );
    }
    const protocol = PROTOCOL.exec(req.protocolVersion ?? '');
    if (protocol === null)
      throw new WuspFault(
        'InvalidParameters',
        'protocolVersion: must be a two-part version such as 1.8',
      );
    const computer = await this.computers.find(authorization.susClientId);
    if (computer?.client.blocked === true) throw blockedFault();
    return this.issue({
      serverId: server.serverId,
      susClientId: authorization.susClientId,
      expiresAt: 0,
      lastChange: server.config.lastChange,
      protocol: { major: Number(protocol[1]), minor: Number(protocol[2]) },
      anchor,
      targetGroup: authorization.targetGroup,
    });
  }

  private issue(state: CookieState): CookieAnswer {
    const expiresAt = Date.now() + this.deps.settings.cookieLifetimeMs;
    return {
      expiration: expiresAt,
      encryptedData: this.sealer.sealCookie({ ...state, expiresAt }),
    };
  }

  private open(data: Buffer): CookieState {
    try {
      return this.sealer.openCookie(data);
    } catch (err) {
      if (err instanceof CookieError)
        throw new WuspFault('InvalidCookie', `cookie: ${err.message}`);
      throw err;
    }
  }

  /** The cookie checks of every operation after GetCookie (3.1.5.5-3.1.5.11). */
  private async caller(cookie: WireCookie | undefined, remembered = false): Promise<Caller> {
    if (cookie?.encryptedData === undefined)
      throw new WuspFault('InvalidCookie', 'cookie: missing');
    const server = await this.serverState();
    const state = this.open(cookie.encryptedData);
    if (state.serverId !== server.serverId)
      throw new WuspFault('ServerChanged', 'cookie: issued by another server');
    if (state.expiresAt < Date.now()) throw new WuspFault('CookieExpired', 'cookie: expired');
    if (state.lastChange !== server.config.lastChange) {
      throw new WuspFault(
        'ConfigChanged',
        'cookie: the configuration changed; call GetConfig again',
      );
    }
    const find = () => this.computers.find(state.susClientId);
    const computer = remembered ? await this.memory.find(state.susClientId, find) : await find();
    if (computer?.client.blocked === true) throw blockedFault();
    return { state, computer };
  }

  /** A caller that must be a registered, current client record (RegistrationRequired otherwise). */
  private async registered(
    cookie: WireCookie | undefined,
  ): Promise<Caller & { computer: Computer }> {
    const caller = await this.caller(cookie, true);
    if (caller.computer === undefined || caller.computer.client.record_state === 'obsolete') {
      throw new WuspFault('RegistrationRequired', 'this computer must call RegisterComputer first');
    }
    // A remembered record keeps the contact it was read with: note the new one on it, or every
    // scan would count as a first contact in a while.
    const client = caller.computer.client;
    client.last_contact = this.deps.contacts.touch(client) ?? client.last_contact;
    return caller as Caller & { computer: Computer };
  }

  // --- 3.1.5.5 RegisterComputer --------------------------------------------------------------

  async registerComputer(req: RegisterComputerRequest, source?: string): Promise<void> {
    const { state } = await this.caller(req.cookie);
    await this.computers.register(state.susClientId, state.targetGroup, req.computerInfo, source);
    this.memory.clear();
  }

  // --- 3.1.5.7 SyncUpdates ---------------------------------------------------------------------

  /** The sync path's policy cache (sync/policy-cache.ts), with the groups read with the record. */
  private async policyOf(computer: Computer): Promise<PolicyEntry[]> {
    const client = computer.client;
    const groupIds = computer.groupIds === '' ? [] : computer.groupIds.split(',').map(Number);
    const version = client.catalog_version ?? 0;
    const policy = await this.policies.of(this.deps.db, client, version, undefined, groupIds);
    return policy.entries;
  }

  async syncUpdates(req: SyncUpdatesRequest): Promise<SyncAnswer> {
    if (req.systemSpecPresent && !req.skipSoftwareSync) {
      throw new WuspFault(
        'InvalidParameters',
        'parameters: SystemSpec is only for the driver pass (SkipSoftwareSync true)',
      );
    }
    const { state, computer } = await this.registered(req.cookie);
    const client = computer.client;
    const version = client.catalog_version ?? 0;
    const catalog = await this.model(version);
    const newCookie = this.issue({
      ...state,
      anchor: { catalogVersion: version, policyEpoch: client.policy_epoch },
    });
    if (req.skipSoftwareSync) {
      // The driver pass: upcat publishes no drivers, so every cached driver is out of scope.
      return {
        newUpdates: [],
        outOfScope: [...new Set(req.cachedDriverIds)].sort((a, b) => a - b),
        changedUpdates: [],
        truncated: false,
        newCookie,
        driverSyncNotNeeded: true,
      };
    }
    const policy = await this.policyOf(computer);
    // Computers of one shape with the same cache get the same answer: remembered per policy
    // (shared by shape, and new with each catalog version), keyed by everything else it reads.
    const everything = state.anchor.policyEpoch !== client.policy_epoch;
    const key = `${version}|${everything ? '*' : state.anchor.catalogVersion}|${req.cachedIdsKey}`;
    let memo = this.syncMemo.get(policy);
    if (memo === undefined) this.syncMemo.set(policy, (memo = new Map()));
    let result = memo.get(key);
    if (result === undefined) {
      result = computeSync(catalog, policy, {
        installedNonLeaf: req.installedNonLeaf,
        otherCached: req.otherCached,
        anchor: state.anchor,
        policyEpoch: client.policy_epoch,
        pageSize: this.deps.settings.syncPageSize,
      });
      if (memo.size >= 256) memo.clear();
      memo.set(key, result);
    }
    return { ...result, newCookie, driverSyncNotNeeded: false };
  }

  // --- 3.1.5.8 RefreshCache ----------------------------------------------------------------------

  async refreshCache(req: RefreshCacheRequest): Promise<RefreshCacheAnswer> {
    const { computer } = await this.registered(req.cookie);
    const catalog = await this.model(computer.client.catalog_version);
    const actions = neededActions(catalog, await this.policyOf(computer));
    const results: RefreshCacheAnswer['results'] = [];
    for (const g of req.globalIds) {
      const a = actions.get(g.updateId);
      const m = catalog.byUpdateId.get(g.updateId);
      if (a === undefined || m === undefined) continue;
      results.push({
        revisionId: m.revisionId,
        globalId: g,
        isLeaf: m.isLeaf,
        deployment: {
          id: m.revisionId * 8,
          action: a.action,
          deadline: a.deadline ?? undefined,
          isAssigned: a.action === 'Install' || a.action === 'Uninstall',
          lastChangeTime: '2000-01-01',
        },
      });
    }
    return { results };
  }

  // --- 3.1.5.9 GetExtendedUpdateInfo -------------------------------------------------------------

  async getExtendedUpdateInfo(
    req: GetExtendedUpdateInfoRequest,
    baseUrl: string,
  ): Promise<ExtendedInfoAnswer> {
    const max = this.deps.settings.maxExtendedUpdatesPerRequest;
    if (req.revisionIds.length > max) {
      throw new WuspFault(
        'InvalidParameters',
        `revisionIDs: at most ${max} per request (MaxExtendedUpdatesPerRequest)`,
      );
    }
    if (req.infoTypes.length === 0)
      throw new WuspFault('InvalidParameters', 'infoTypes: must name at least one fragment type');
    const wantsLocale =
      req.infoTypes.includes('LocalizedProperties') || req.infoTypes.includes('Eula');
    if (wantsLocale && req.locales.length === 0) {
      throw new WuspFault(
        'InvalidParameters',
        'locales: required with LocalizedProperties or Eula',
      );
    }
    const { computer } = await this.registered(req.cookie);
    const catalog = await this.model(computer.client.catalog_version);
    const inScope = neededActions(catalog, await this.policyOf(computer));
    const answer: ExtendedInfoAnswer = { updates: [], fileLocations: [], outOfScope: [] };
    const seenFiles = new Set<string>();
    for (const id of [...new Set(req.revisionIds)]) {
      const m = catalog.byRevisionId.get(id);
      if (m === undefined || !inScope.has(m.updateId)) {
        answer.outOfScope.push(id);
        continue;
      }
      for (const type of new Set(req.infoTypes)) {
        if (type === 'Core') answer.updates.push({ id, xml: m.fragments.core });
        if (type === 'Extended') answer.updates.push({ id, xml: m.fragments.extended });
        if (type === 'LocalizedProperties') {
          for (const xml of localizedFor(m.fragments.localized, req.locales))
            answer.updates.push({ id, xml });
        }
      }
      if (m.download !== undefined && !seenFiles.has(m.download.sha1)) {
        seenFiles.add(m.download.sha1);
        answer.fileLocations.push(location(m.download.sha1, m.download.url, baseUrl));
      }
    }
    return answer;
  }

  // --- 3.1.5.10 GetFileLocations -----------------------------------------------------------------

  async getFileLocations(
    req: GetFileLocationsRequest,
    baseUrl: string,
  ): Promise<FileLocationsAnswer> {
    const { state, computer } = await this.registered(req.cookie);
    const catalog = await this.model(computer.client.catalog_version);
    const fileLocations: FileLocation[] = [];
    for (const digest of req.fileDigests) {
      const file = catalog.bySha1.get(digest.toString('hex'));
      if (file !== undefined) fileLocations.push(location(file.sha1, file.url, baseUrl));
    }
    return { fileLocations, newCookie: this.issue(state) };
  }

  // --- 3.1.5.11 ReportEventBatch -----------------------------------------------------------------

  async reportEventBatch(req: ReportEventBatchRequest, source?: string): Promise<boolean> {
    const { state, computer } = await this.caller(req.cookie);
    // Events of a computer that is not (or no longer) registered cannot be attributed.
    if (computer === undefined || computer.client.record_state === 'obsolete') return true;
    const catalog = await this.model(computer.client.catalog_version);
    const messages = eventsToMessages(req.events, state.susClientId, (u) =>
      catalog.byUpdateId.has(u),
    );
    for (let i = 0; i < messages.length; i += 100) {
      await this.deps.status.fromClient(
        computer.client.client_id,
        { messages: messages.slice(i, i + 100) },
        source,
      );
    }
    return true;
  }

  // --- 3.1.5.6 StartCategoryScan -------------------------------------------------------------------

  async startCategoryScan(
    cookie: WireCookie | undefined,
    requested: Array<{ group: number; categoryId: string }>,
  ): Promise<{ preferred: string[]; inError: string[] }> {
    const { computer } = await this.registered(cookie);
    const catalog = await this.model(computer.client.catalog_version);
    const inError = requested
      .filter((r) => !catalog.byUpdateId.has(r.categoryId))
      .map((r) => r.categoryId);
    const bad = new Set(
      requested.filter((r) => inError.includes(r.categoryId)).map((r) => r.group),
    );
    const preferred = requested
      .filter((r) => !bad.has(r.group) && catalog.byUpdateId.get(r.categoryId)?.type === 'Category')
      .filter((r) => catalog.byUpdateId.get(r.categoryId)?.clauses.length === 1)
      .map((r) => r.categoryId);
    return { preferred: [...new Set(preferred)], inError: [...new Set(inError)] };
  }
}

function localizedFor(
  byLanguage: ReadonlyMap<string, string>,
  locales: readonly string[],
): string[] {
  const out: string[] = [];
  for (const locale of locales) {
    const exact = byLanguage.get(locale) ?? byLanguage.get(locale.split('-')[0] ?? '');
    if (exact !== undefined && !out.includes(exact)) out.push(exact);
  }
  // No requested language is published: the default language, rather than no title at all.
  const fallback = byLanguage.get('en');
  if (out.length === 0 && fallback !== undefined) out.push(fallback);
  return out;
}

function location(sha1: string, url: string, baseUrl: string): FileLocation {
  return { digest: Buffer.from(sha1, 'hex'), url: `${baseUrl}${url}` };
}

function truncateUtf8(value: string, maxBytes: number): string {
  let out = value;
  while (Buffer.byteLength(out, 'utf8') > maxBytes) out = out.slice(0, -1);
  return out;
}
