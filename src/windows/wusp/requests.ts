/**
 * Reads each operation's request element into its typed request (contract.ts), following the
 * section 6 schemas; anything out of shape is InvalidParameters naming the element.
 */
import type { XmlElement } from '../../rules/safe-xml.js';
import type {
  ComputerInfo,
  FragmentType,
  GetAuthorizationCookieRequest,
  GetConfigRequest,
  GetCookieRequest,
  GetExtendedUpdateInfoRequest,
  GetFileLocationsRequest,
  RefreshCacheRequest,
  RegisterComputerRequest,
  ReportEventBatchRequest,
  ReportingEvent,
  SyncUpdatesRequest,
  WireCookie,
} from './contract.js';
import {
  child,
  children,
  intArray,
  invalid,
  optBool,
  optDateTime,
  optInt,
  optText,
  reqText,
  stringArray,
  toBase64,
  toDateTime,
  toInt,
} from './read.js';

/** Generous bounds: a catalog of a few thousand updates, a batch of a few hundred events. */
export const MAX_CACHED_IDS = 20_000;
export const MAX_EVENTS = 1_000;
const MAX_COOKIE_BYTES = 4096;

/** Cookie bytes, decoded leniently (and bounded): the cookie layer decides what they are. */
function looseBase64(text: string): Buffer {
  return Buffer.from(text.replace(/\s+/g, '').slice(0, MAX_COOKIE_BYTES * 2), 'base64');
}

export function readCookie(parent: XmlElement, local = 'cookie'): WireCookie | undefined {
  const e = child(parent, local);
  if (e === undefined) return undefined;
  const expiration = optText(e, 'Expiration', 40);
  const data = optText(e, 'EncryptedData', MAX_COOKIE_BYTES * 2);
  return {
    expiration:
      expiration === undefined ? undefined : toDateTime(expiration, `${local}/Expiration`),
    // Not checked as base64 here: bytes that are no cookie of ours are InvalidCookie (3.1.5.4),
    // whatever their encoding, and the cookie layer refuses them.
    encryptedData: data === undefined || data.trim() === '' ? undefined : looseBase64(data),
  };
}

export function readGetConfig(op: XmlElement): GetConfigRequest {
  return { protocolVersion: optText(op, 'protocolVersion', 16) ?? '' };
}

export function readGetAuthorizationCookie(op: XmlElement): GetAuthorizationCookieRequest {
  return {
    clientId: reqText(op, 'clientId', 64).trim(),
    targetGroupName: (optText(op, 'targetGroupName', 255) ?? '').trim(),
    dnsName: (optText(op, 'dnsName', 255) ?? '').trim(),
  };
}

export function readGetCookie(op: XmlElement): GetCookieRequest {
  const list = child(op, 'authCookies');
  const items = list === undefined ? [] : children(list, 'AuthorizationCookie');
  if (items.length > 8) throw invalid('authCookies', 'must hold one AuthorizationCookie');
  const lastChange = optDateTime(op, 'lastChange');
  if (lastChange === undefined) throw invalid('lastChange', 'is required');
  return {
    authCookies: items.map((c) => {
      const data = optText(c, 'CookieData', MAX_COOKIE_BYTES * 2);
      return {
        plugInId: optText(c, 'PlugInId', 64),
        // As for EncryptedData: what is not our cookie is InvalidAuthorizationCookie.
        cookieData: data === undefined ? undefined : looseBase64(data),
      };
    }),
    oldCookie: readCookie(op, 'oldCookie'),
    lastChange,
    currentTime: optDateTime(op, 'currentTime'),
    protocolVersion: optText(op, 'protocolVersion', 16),
  };
}

export function readRegisterComputer(op: XmlElement): RegisterComputerRequest {
  const info = child(op, 'computerInfo');
  if (info === undefined) throw invalid('computerInfo', 'is required');
  const str = (local: string) => optText(info, local, 255)?.trim() || undefined;
  const num = (local: string, min: number, max: number) => optInt(info, local, min, max) ?? 0;
  const bios = optText(info, 'BiosReleaseDate', 40);
  const computerInfo: ComputerInfo = {
    dnsName: reqText(info, 'DnsName', 255).trim(),
    osMajor: num('OSMajorVersion', 0, 65535),
    osMinor: num('OSMinorVersion', 0, 65535),
    osBuild: num('OSBuildNumber', 0, 2147483647),
    osSpMajor: num('OSServicePackMajorNumber', 0, 32767),
    osSpMinor: num('OSServicePackMinorNumber', 0, 32767),
    osLocale: str('OSLocale'),
    manufacturer: str('ComputerManufacturer'),
    model: str('ComputerModel'),
    biosVersion: str('BiosVersion'),
    biosName: str('BiosName'),
    biosReleaseDate: bios === undefined ? undefined : toDateTime(bios, 'BiosReleaseDate'),
    processorArchitecture: str('ProcessorArchitecture'),
    suiteMask: optInt(info, 'SuiteMask', -32768, 65535),
    productType: optInt(info, 'OldProductType', 0, 255),
    clientVersion: [
      num('ClientVersionMajorNumber', 0, 65535),
      num('ClientVersionMinorNumber', 0, 65535),
      num('ClientVersionBuildNumber', 0, 65535),
      num('ClientVersionQfeNumber', 0, 65535),
    ],
    osDescription: str('OSDescription'),
    oem: str('OEM'),
    deviceType: str('DeviceType'),
    firmwareVersion: str('FirmwareVersion'),
  };
  if (computerInfo.dnsName === '') throw invalid('DnsName', 'must not be empty');
  return { cookie: readCookie(op), computerInfo };
}

/**
 * SyncUpdates' parameters, read once per element: a tree reused by the envelope memo
 * (envelope-memo.ts) shares its `parameters` element, so the thousand cached IDs of a WUA scan
 * are read, and joined into the key of remembered answers, once for all computers that send them.
 */
const syncParameters = new WeakMap<XmlElement, Omit<SyncUpdatesRequest, 'cookie'>>();

export function readSyncUpdates(op: XmlElement): SyncUpdatesRequest {
  const p = child(op, 'parameters');
  if (p === undefined) throw invalid('parameters', 'is required');
  let params = syncParameters.get(p);
  if (params === undefined) {
    const installedNonLeaf = intArray(p, 'InstalledNonLeafUpdateIDs', MAX_CACHED_IDS);
    const otherCached = intArray(p, 'OtherCachedUpdateIDs', MAX_CACHED_IDS);
    params = {
      expressQuery: optBool(p, 'ExpressQuery') ?? false,
      installedNonLeaf,
      otherCached,
      cachedIdsKey: `${installedNonLeaf.join(',')}|${otherCached.join(',')}`,
      systemSpecPresent: child(p, 'SystemSpec') !== undefined,
      cachedDriverIds: intArray(p, 'CachedDriverIDs', MAX_CACHED_IDS),
      skipSoftwareSync: optBool(p, 'SkipSoftwareSync') ?? false,
    };
    syncParameters.set(p, params);
  }
  return { cookie: readCookie(op), ...params };
}

const GUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

export function readRefreshCache(op: XmlElement): RefreshCacheRequest {
  const list = child(op, 'globalIDs');
  if (list === undefined) throw invalid('globalIDs', 'is required');
  const items = children(list, 'UpdateIdentity');
  if (items.length > MAX_CACHED_IDS) throw invalid('globalIDs', 'lists too many updates');
  return {
    cookie: readCookie(op),
    globalIds: items.map((i) => {
      const updateId = reqText(i, 'UpdateID', 40).trim();
      if (!GUID.test(updateId)) throw invalid('UpdateID', 'must be a GUID');
      return {
        updateId: updateId.toLowerCase(),
        revisionNumber: toInt(reqText(i, 'RevisionNumber', 16), 'RevisionNumber'),
      };
    }),
  };
}

const FRAGMENTS: readonly FragmentType[] = [
  'Published',
  'Core',
  'Extended',
  'VerificationRule',
  'LocalizedProperties',
  'Eula',
  'FileUrl',
  'FileDecryption',
];

export function readGetExtendedUpdateInfo(op: XmlElement): GetExtendedUpdateInfoRequest {
  const types = child(op, 'infoTypes');
  if (types === undefined) throw invalid('infoTypes', 'is required');
  const infoTypes = children(types, 'XmlUpdateFragmentType').map((t) => {
    const name = t.text.trim() as FragmentType;
    if (!FRAGMENTS.includes(name))
      throw invalid('infoTypes', `unknown fragment type ${t.text.slice(0, 32)}`);
    return name;
  });
  if (infoTypes.length > 16) throw invalid('infoTypes', 'lists too many types');
  return {
    cookie: readCookie(op),
    revisionIds: intArray(op, 'revisionIDs', MAX_CACHED_IDS),
    infoTypes,
    locales: stringArray(op, 'locales', 32, 32),
  };
}

export function readGetFileLocations(op: XmlElement): GetFileLocationsRequest {
  const list = child(op, 'fileDigests');
  if (list === undefined) throw invalid('fileDigests', 'is required');
  const items = children(list, 'base64Binary');
  if (items.length > MAX_CACHED_IDS) throw invalid('fileDigests', 'lists too many digests');
  return {
    cookie: readCookie(op),
    fileDigests: items.map((i) => {
      const digest = toBase64(i.text, 'fileDigests', 20);
      if (digest.length !== 20)
        throw invalid('fileDigests', 'each digest must be 20 bytes (SHA-1)');
      return digest;
    }),
  };
}

export function readReportEventBatch(op: XmlElement): ReportEventBatchRequest {
  const clientTime = optDateTime(op, 'clientTime');
  if (clientTime === undefined) throw invalid('clientTime', 'is required');
  const batch = child(op, 'eventBatch');
  if (batch === undefined) throw invalid('eventBatch', 'is required');
  const items = children(batch, 'ReportingEvent');
  if (items.length > MAX_EVENTS)
    throw invalid('eventBatch', `must hold at most ${MAX_EVENTS} events`);
  return { cookie: readCookie(op), clientTime, events: items.map(readEvent) };
}

function readEvent(e: XmlElement): ReportingEvent {
  const basic = child(e, 'BasicData');
  if (basic === undefined) throw invalid('ReportingEvent', 'BasicData is required');
  const target = child(basic, 'TargetID');
  const update = child(basic, 'UpdateID');
  const extended = child(e, 'ExtendedData');
  const instance = reqText(basic, 'EventInstanceID', 40).trim();
  if (!GUID.test(instance)) throw invalid('EventInstanceID', 'must be a GUID');
  const updateId = update === undefined ? undefined : optText(update, 'UpdateID', 40)?.trim();
  if (updateId !== undefined && !GUID.test(updateId)) throw invalid('UpdateID', 'must be a GUID');
  const time = optText(basic, 'TimeAtTarget', 40);
  return {
    targetSid: target === undefined ? undefined : optText(target, 'Sid', 64)?.trim(),
    sequenceNumber: optInt(basic, 'SequenceNumber', 0, 2147483647),
    timeAtTarget: time === undefined ? undefined : toDateTime(time, 'TimeAtTarget'),
    eventInstanceId: instance.toLowerCase(),
    namespaceId: optInt(basic, 'NamespaceID', 0, 65535),
    eventId: optInt(basic, 'EventID', 0, 65535) ?? 0,
    sourceId: optInt(basic, 'SourceID', 0, 65535),
    updateId: updateId?.toLowerCase(),
    revisionNumber:
      update === undefined ? undefined : optInt(update, 'RevisionNumber', 0, 2147483647),
    win32HResult: optInt(basic, 'Win32HResult', -2147483648, 4294967295),
    appName: optText(basic, 'AppName', 255),
    replacementStrings:
      extended === undefined ? [] : stringArray(extended, 'ReplacementStrings', 32, 1024),
  };
}
