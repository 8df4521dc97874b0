/**
 * A Windows Update Agent, simulated: it plays the MS-WUSP sequence a real WUA plays against a
 * server over HTTP ([MS-WUSP] 3.1.5, 3.2): GetConfig, GetAuthorizationCookie, GetCookie,
 * RegisterComputer, the SyncUpdates loop until nothing is new (categories and installed
 * non-leaf updates unlock the rest), the driver pass, GetExtendedUpdateInfo, the download with
 * HEAD and ranged GETs whose bytes are checked against the SHA-1 and SHA-256 of the File
 * elements, and ReportEventBatch. Requests are written the way the section 4 samples write them
 * (soapenc array types, xsi:nil), and every answer is read from the XML, never trusted blindly.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { Site } from '../../src/app.js';
import { parseXml, type XmlElement } from '../../src/rules/safe-xml.js';
import { createApp } from '../../src/server/app.js';

export const NS = {
  client: 'http://www.microsoft.com/SoftwareDistribution/Server/ClientWebService',
  simpleAuth: 'http://www.microsoft.com/SoftwareDistribution/Server/SimpleAuthWebService',
  reporting: 'http://www.microsoft.com/SoftwareDistribution',
} as const;
export type Service = keyof typeof NS;

export const PATHS: Record<Service, string> = {
  client: '/ClientWebService/client.asmx',
  simpleAuth: '/SimpleAuthWebService/SimpleAuth.asmx',
  reporting: '/ReportingWebService/ReportingWebService.asmx',
};

export interface SoapResult {
  status: number;
  contentType: string;
  text: string;
  /** The response element (or soap:Fault) inside soap:Body. */
  body: XmlElement;
  fault: { errorCode: string; message: string } | undefined;
}

export function envelope(inner: string): string {
  return (
    '<?xml version="1.0" encoding="utf-8"?>' +
    '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:soapenc="http://schemas.xmlsoap.org/soap/encoding/">' +
    `<soap:Body>${inner}</soap:Body></soap:Envelope>`
  );
}

export async function soapCall(
  baseUrl: string,
  service: Service,
  op: string,
  inner: string,
  path = PATHS[service],
): Promise<SoapResult> {
  const res = await fetch(`${baseUrl}${path}`, {
    method: 'POST',
    headers: {
      'Content-Type': 'text/xml; charset=utf-8',
      SOAPAction: `"${NS[service]}/${op}"`,
      'User-Agent': 'Windows-Update-Agent/10.0.10011.16384 Client-Protocol/2.50',
    },
    body: envelope(`<${op} xmlns="${NS[service]}">${inner}</${op}>`),
  });
  return readSoap(res);
}

export async function readSoap(res: Response): Promise<SoapResult> {
  const text = await res.text();
  const root = parseXml(text);
  const body = root.children.find((c) => c.local === 'Body')?.children[0];
  if (body === undefined) throw new Error(`no SOAP body in ${text.slice(0, 200)}`);
  let fault;
  if (body.local === 'Fault') {
    const detail = body.children.find((c) => c.local === 'detail');
    fault = {
      errorCode: detail?.children.find((c) => c.local === 'ErrorCode')?.text ?? '',
      message: detail?.children.find((c) => c.local === 'Message')?.text ?? '',
    };
  }
  return {
    status: res.status,
    contentType: res.headers.get('content-type') ?? '',
    text,
    body,
    fault,
  };
}

/** Child by local name; path of names. */
export function pick(e: XmlElement | undefined, ...names: string[]): XmlElement | undefined {
  let at = e;
  for (const n of names) at = at?.children.find((c) => c.local === n);
  return at;
}

export function all(e: XmlElement | undefined, name: string): XmlElement[] {
  return e?.children.filter((c) => c.local === name) ?? [];
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function cookieXml(
  name: string,
  c: { expiration: string; data: string | undefined },
): string {
  return `<${name}><Expiration>${c.expiration}</Expiration>${
    c.data === undefined
      ? '<EncryptedData xsi:nil="1" />'
      : `<EncryptedData>${c.data}</EncryptedData>`
  }</${name}>`;
}

const ints = (name: string, ids: readonly number[]) =>
  ids.length === 0
    ? `<${name} xsi:nil="1" />`
    : `<${name} soapenc:arrayType="xsd:int[${ids.length}]">${ids.map((i) => `<int>${i}</int>`).join('')}</${name}>`;

export interface OfferedUpdate {
  revisionId: number;
  updateId: string;
  revisionNumber: number;
  updateType: string;
  action: string;
  isLeaf: boolean;
  core: XmlElement;
}

export interface Download {
  url: string;
  bytes: Buffer;
  sha1: string;
  sha256: string;
  rangesUsed: number;
}

export interface SimulatorOptions {
  susClientId?: string;
  dnsName?: string;
  targetGroup?: string;
  /** Update IDs that evaluate as installed on this machine (IsInstalled true). */
  installed?: Iterable<string>;
  manufacturer?: string;
  model?: string;
}

export class WuaSimulator {
  readonly susClientId: string;
  readonly dnsName: string;
  targetGroup: string;
  readonly installed: Set<string>;
  lastChange = '';
  authCookie = '';
  cookie: { expiration: string; data: string | undefined } | undefined;
  /** What the client has cached, as a WUA keeps it between syncs. */
  readonly cache = new Map<number, OfferedUpdate>();
  readonly calls: string[] = [];

  constructor(
    readonly baseUrl: string,
    private readonly options: SimulatorOptions = {},
  ) {
    this.susClientId = options.susClientId ?? randomUUID();
    this.dnsName = options.dnsName ?? `pc-${this.susClientId.slice(0, 8)}.example.test`;
    this.targetGroup = options.targetGroup ?? '';
    this.installed = new Set(options.installed ?? []);
  }

  async call(service: Service, op: string, inner: string): Promise<SoapResult> {
    this.calls.push(op);
    return soapCall(this.baseUrl, service, op, inner);
  }

  private static ok(r: SoapResult, op: string): XmlElement {
    if (r.fault !== undefined || r.status !== 200) {
      throw new WuaFault(
        op,
        r.fault?.errorCode ?? `HTTP ${r.status}`,
        r.fault?.message ?? r.text.slice(0, 200),
      );
    }
    return r.body;
  }

  async getConfig(): Promise<XmlElement> {
    const body = WuaSimulator.ok(
      await this.call('client', 'GetConfig', '<protocolVersion>1.8</protocolVersion>'),
      'GetConfig',
    );
    this.lastChange = pick(body, 'GetConfigResult', 'LastChange')?.text ?? '';
    return body;
  }

  async getAuthorizationCookie(): Promise<void> {
    const body = WuaSimulator.ok(
      await this.call(
        'simpleAuth',
        'GetAuthorizationCookie',
        `<clientId>${this.susClientId}</clientId><targetGroupName>${esc(this.targetGroup)}</targetGroupName><dnsName>${this.dnsName}</dnsName>`,
      ),
      'GetAuthorizationCookie',
    );
    this.authCookie = pick(body, 'GetAuthorizationCookieResult', 'CookieData')?.text ?? '';
  }

  async getCookie(): Promise<void> {
    const old = this.cookie ?? { expiration: '2006-05-16T18:54:28.85Z', data: undefined };
    const body = WuaSimulator.ok(
      await this.call(
        'client',
        'GetCookie',
        `<authCookies soapenc:arrayType="q1:AuthorizationCookie[1]" xmlns:q1="${NS.client}"><AuthorizationCookie><PlugInId>SimpleTargeting</PlugInId><CookieData>${this.authCookie}</CookieData></AuthorizationCookie></authCookies>` +
          cookieXml('oldCookie', old) +
          `<lastChange>${this.lastChange}</lastChange><currentTime>${new Date().toISOString()}</currentTime><protocolVersion>1.8</protocolVersion>`,
      ),
      'GetCookie',
    );
    this.setCookie(pick(body, 'GetCookieResult'));
  }

  private setCookie(e: XmlElement | undefined): void {
    const expiration = pick(e, 'Expiration')?.text;
    const data = pick(e, 'EncryptedData')?.text;
    if (expiration === undefined || data === undefined) throw new Error('answer holds no cookie');
    this.cookie = { expiration, data };
  }

  cookieXml(): string {
    if (this.cookie === undefined) throw new Error('no cookie yet');
    return cookieXml('cookie', this.cookie);
  }

  async registerComputer(): Promise<void> {
    WuaSimulator.ok(
      await this.call(
        'client',
        'RegisterComputer',
        this.cookieXml() +
          `<computerInfo><DnsName>${this.dnsName}</DnsName><OSMajorVersion>10</OSMajorVersion><OSMinorVersion>0</OSMinorVersion><OSBuildNumber>19045</OSBuildNumber><OSServicePackMajorNumber>0</OSServicePackMajorNumber><OSServicePackMinorNumber>0</OSServicePackMinorNumber><OSLocale>en-US</OSLocale><ComputerManufacturer>${esc(this.options.manufacturer ?? 'Contoso')}</ComputerManufacturer><ComputerModel>${esc(this.options.model ?? 'Desk 5')}</ComputerModel><BiosVersion>1.0</BiosVersion><BiosName>BIOS</BiosName><BiosReleaseDate>2023-01-01T00:00:00Z</BiosReleaseDate><ProcessorArchitecture>AMD64</ProcessorArchitecture><SuiteMask>256</SuiteMask><OldProductType>1</OldProductType><NewProductType>48</NewProductType><SystemMetrics>0</SystemMetrics><ClientVersionMajorNumber>10</ClientVersionMajorNumber><ClientVersionMinorNumber>0</ClientVersionMinorNumber><ClientVersionBuildNumber>19041</ClientVersionBuildNumber><ClientVersionQfeNumber>3996</ClientVersionQfeNumber><OSDescription>Windows 10 Enterprise</OSDescription><OEM>Contoso</OEM><DeviceType>Desktop</DeviceType><FirmwareVersion>1.0</FirmwareVersion></computerInfo>`,
      ),
      'RegisterComputer',
    );
  }

  /** The handshake: config, cookies, registration. */
  async connect(): Promise<void> {
    await this.getConfig();
    await this.getAuthorizationCookie();
    await this.getCookie();
    await this.registerComputer();
  }

  /** One SyncUpdates call with the client's current cache. */
  async syncOnce(skipSoftware = false): Promise<XmlElement> {
    const nonLeaf: number[] = [];
    const other: number[] = [];
    for (const u of this.cache.values()) {
      if (this.evaluatesInstalled(u) && !u.isLeaf) nonLeaf.push(u.revisionId);
      else other.push(u.revisionId);
    }
    const body = WuaSimulator.ok(
      await this.call(
        'client',
        'SyncUpdates',
        this.cookieXml() +
          '<parameters><ExpressQuery>false</ExpressQuery>' +
          (skipSoftware
            ? '<InstalledNonLeafUpdateIDs xsi:nil="1" /><OtherCachedUpdateIDs xsi:nil="1" />'
            : ints('InstalledNonLeafUpdateIDs', nonLeaf) + ints('OtherCachedUpdateIDs', other)) +
          (skipSoftware
            ? '<SystemSpec><Device><HardwareIDs><string>PCI\\VEN_8086</string></HardwareIDs></Device></SystemSpec>'
            : '<SystemSpec xsi:nil="1" />') +
          `<CachedDriverIDs xsi:nil="1" /><SkipSoftwareSync>${skipSoftware}</SkipSoftwareSync></parameters>`,
      ),
      'SyncUpdates',
    );
    const result = pick(body, 'SyncUpdatesResult');
    this.setCookie(pick(result, 'NewCookie'));
    return result as XmlElement;
  }

  /** Categories and detectoids count as installed; software as the machine's inventory says. */
  evaluatesInstalled(u: OfferedUpdate): boolean {
    return u.updateType !== 'Software' || this.installed.has(u.updateId);
  }

  /**
   * The software loop of [MS-WUSP] 3.1.5.7 until NewUpdates is empty, then the driver pass.
   * Returns what each round brought, and what the server said is out of scope.
   */
  async syncAll(maxRounds = 20): Promise<{
    rounds: OfferedUpdate[][];
    outOfScope: number[];
    truncatedSeen: boolean;
    changed: number[];
  }> {
    const rounds: OfferedUpdate[][] = [];
    const outOfScope: number[] = [];
    const changed: number[] = [];
    let truncatedSeen = false;
    for (let round = 0; round < maxRounds; round++) {
      const result = await this.syncOnce();
      for (const id of all(pick(result, 'OutOfScopeRevisionIDs'), 'int')) {
        outOfScope.push(Number(id.text));
        this.cache.delete(Number(id.text));
      }
      for (const u of all(pick(result, 'ChangedUpdates'), 'UpdateInfo')) {
        const id = Number(pick(u, 'ID')?.text);
        changed.push(id);
        const held = this.cache.get(id);
        if (held !== undefined) held.action = pick(u, 'Deployment', 'Action')?.text ?? held.action;
      }
      if (pick(result, 'Truncated')?.text === 'true') truncatedSeen = true;
      const fresh = all(pick(result, 'NewUpdates'), 'UpdateInfo').map(readUpdateInfo);
      if (fresh.length === 0) break;
      for (const u of fresh) this.cache.set(u.revisionId, u);
      rounds.push(fresh);
    }
    await this.syncOnce(true);
    return { rounds, outOfScope, truncatedSeen, changed };
  }

  /** Software updates the client would act on: deployed with Install/Uninstall, in scope. */
  actionable(): OfferedUpdate[] {
    return [...this.cache.values()].filter(
      (u) =>
        u.updateType === 'Software' &&
        (u.action === 'Install' || u.action === 'Uninstall' || u.action === 'OptionalInstall'),
    );
  }

  async extendedInfo(
    revisionIds: number[],
    infoTypes = ['Extended', 'LocalizedProperties'],
  ): Promise<XmlElement> {
    const body = WuaSimulator.ok(
      await this.call(
        'client',
        'GetExtendedUpdateInfo',
        this.cookieXml() +
          ints('revisionIDs', revisionIds) +
          `<infoTypes>${infoTypes.map((t) => `<XmlUpdateFragmentType>${t}</XmlUpdateFragmentType>`).join('')}</infoTypes>` +
          '<locales><string>en-US</string><string>en</string></locales>',
      ),
      'GetExtendedUpdateInfo',
    );
    return pick(body, 'GetExtendedUpdateInfoResult') as XmlElement;
  }

  /**
   * Downloads a file as BITS does: HEAD for the size, then ranged GETs (206 each), and checks
   * the bytes against the digests the extended fragment's File element gives.
   */
  async download(
    url: string,
    expected: { sha1: string; sha256: string; size: number },
    parts = 3,
  ): Promise<Download> {
    const head = await fetch(url, { method: 'HEAD' });
    if (head.status !== 200) throw new Error(`HEAD ${url}: ${head.status}`);
    const size = Number(head.headers.get('content-length'));
    if (size !== expected.size)
      throw new Error(`HEAD says ${size} bytes, the File element ${expected.size}`);
    const chunks: Buffer[] = [];
    const step = Math.max(1, Math.ceil(size / parts));
    let rangesUsed = 0;
    for (let from = 0; from < size; from += step) {
      const to = Math.min(size, from + step) - 1;
      const res = await fetch(url, { headers: { Range: `bytes=${from}-${to}` } });
      if (res.status !== 206) throw new Error(`GET ${url} Range ${from}-${to}: ${res.status}`);
      if (res.headers.get('content-range') !== `bytes ${from}-${to}/${size}`) {
        throw new Error(`Content-Range ${res.headers.get('content-range')}`);
      }
      chunks.push(Buffer.from(await res.arrayBuffer()));
      rangesUsed += 1;
    }
    const bytes = Buffer.concat(chunks);
    const sha1 = createHash('sha1').update(bytes).digest('base64');
    const sha256 = createHash('sha256').update(bytes).digest('base64');
    if (sha1 !== expected.sha1)
      throw new Error(`SHA-1 ${sha1} differs from the File element's ${expected.sha1}`);
    if (sha256 !== expected.sha256)
      throw new Error(`SHA-256 ${sha256} differs from the AdditionalDigest ${expected.sha256}`);
    return { url, bytes, sha1, sha256, rangesUsed };
  }

  async report(
    events: Array<{ eventId: number; updateId: string; revisionNumber: number; hresult?: number }>,
  ): Promise<SoapResult> {
    const items = events
      .map(
        (e) =>
          `<ReportingEvent><BasicData><TargetID><Sid>${this.susClientId}</Sid></TargetID><SequenceNumber>0</SequenceNumber><TimeAtTarget>${new Date().toISOString().slice(0, -1)}</TimeAtTarget><EventInstanceID>${randomUUID().toUpperCase()}</EventInstanceID><NamespaceID>1</NamespaceID><EventID>${e.eventId}</EventID><SourceID>101</SourceID><UpdateID><UpdateID>${e.updateId}</UpdateID><RevisionNumber>${e.revisionNumber}</RevisionNumber></UpdateID><Win32HResult>${e.hresult ?? 0}</Win32HResult><AppName>AutomaticUpdates</AppName></BasicData><ExtendedData><ReplacementStrings soapenc:arrayType="xsd:string[1]"><string>upcat</string></ReplacementStrings><ComputerBrand>Contoso</ComputerBrand><ComputerModel>Desk 5</ComputerModel><ProcessorArchitecture>X64Compatible</ProcessorArchitecture><OSLocaleID>1033</OSLocaleID><DeviceID /></ExtendedData><PrivateData><ComputerDnsName /><UserAccountName /></PrivateData></ReportingEvent>`,
      )
      .join('');
    return this.call(
      'reporting',
      'ReportEventBatch',
      this.cookieXml() +
        `<clientTime>${new Date().toISOString()}</clientTime><eventBatch xmlns:q1="${NS.reporting}" soapenc:arrayType="q1:ReportingEvent[${events.length}]">${items}</eventBatch>`,
    );
  }
}

export class WuaFault extends Error {
  constructor(
    readonly op: string,
    readonly errorCode: string,
    detail: string,
  ) {
    super(`${op}: ${errorCode}: ${detail}`);
  }
}

function readUpdateInfo(u: XmlElement): OfferedUpdate {
  const xml = pick(u, 'Xml')?.text ?? '';
  const core = parseXml(`<core>${xml}</core>`);
  const identity = pick(core, 'UpdateIdentity');
  const attr = (e: XmlElement | undefined, name: string) =>
    e?.attributes.find((a) => a.local === name)?.value ?? '';
  return {
    revisionId: Number(pick(u, 'ID')?.text),
    updateId: attr(identity, 'UpdateID'),
    revisionNumber: Number(attr(identity, 'RevisionNumber')),
    updateType: attr(pick(core, 'Properties'), 'UpdateType'),
    action: pick(u, 'Deployment', 'Action')?.text ?? '',
    isLeaf: pick(u, 'IsLeaf')?.text === 'true',
    core,
  };
}

/** The File element of an extended fragment: name, size and the two digests (base64). */
export function filesOf(
  extendedXml: string,
): Array<{ name: string; size: number; sha1: string; sha256: string }> {
  const root = parseXml(`<x>${extendedXml}</x>`);
  return all(pick(root, 'Files'), 'File').map((f) => {
    const attr = (name: string) => f.attributes.find((a) => a.local === name)?.value ?? '';
    return {
      name: attr('FileName'),
      size: Number(attr('Size')),
      sha1: attr('Digest'),
      sha256: pick(f, 'AdditionalDigest')?.text ?? '',
    };
  });
}

/** A Windows client build: a command-line installer with Windows rules (no Platform/Fact). */
export function windowsManifest(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    title: 'Contoso Client 5.0.1',
    product: 'Contoso Client',
    classification: 'Updates',
    version: '5.0.1',
    handler: {
      type: 'commandLine',
      program: 'setup.exe',
      arguments: '/quiet /norestart',
      returnCodes: [
        { code: 0, result: 'Succeeded' },
        { code: 3010, result: 'Succeeded', reboot: true },
      ],
    },
    isInstalled: {
      FileVersion: {
        Path: 'C:\\Program Files\\Contoso\\client.exe',
        Comparison: 'GreaterThanOrEqualTo',
        Version: '5.0.1',
      },
    },
    isInstallable: { WindowsVersion: { Comparison: 'GreaterThanOrEqualTo', MajorVersion: 10 } },
    ...over,
  };
}

export async function serve(site: Site): Promise<{ url: string; close(): Promise<void> }> {
  const app = createApp(site);
  const server = app.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** `upcat approve <update> --group "All Computers" --action <action>`, as the tests need it. */
export function deployToAll(
  site: Site,
  updateId: string,
  action: 'install' | 'uninstall' | 'optional' = 'install',
): Promise<unknown> {
  return site.deployments.approve({ updateId, group: 'All Computers', action }, 'test');
}
