/**
 * The typed contract of the operations upcat serves ([MS-WUSP] 2.2.2, section 6 WSDLs): each
 * operation is a plain async function from one of these requests to one of these answers
 * (operations.ts); requests.ts reads them from SOAP and responses.ts writes them back.
 */

/** Cookie as it travels (2.2.3.5): Expiration in clear, EncryptedData opaque; nil data = none. */
export interface WireCookie {
  expiration: number | undefined;
  encryptedData: Buffer | undefined;
}

export interface GetConfigRequest {
  protocolVersion: string;
}

export interface ConfigAnswer {
  lastChange: number;
  isRegistrationRequired: boolean;
  plugIn: { id: string; serviceUrl: string; parameter: string };
  properties: ReadonlyArray<readonly [string, string]>;
}

export interface GetAuthorizationCookieRequest {
  clientId: string;
  targetGroupName: string;
  dnsName: string;
}

export interface AuthorizationCookieAnswer {
  plugInId: string;
  cookieData: Buffer;
}

export interface GetCookieRequest {
  authCookies: Array<{ plugInId: string | undefined; cookieData: Buffer | undefined }>;
  oldCookie: WireCookie | undefined;
  lastChange: number;
  currentTime: number | undefined;
  protocolVersion: string | undefined;
}

export interface CookieAnswer {
  expiration: number;
  encryptedData: Buffer;
}

/** ComputerInfo (2.2.2.2.3); what the server keeps of it. */
export interface ComputerInfo {
  dnsName: string;
  osMajor: number;
  osMinor: number;
  osBuild: number;
  osSpMajor: number;
  osSpMinor: number;
  osLocale: string | undefined;
  manufacturer: string | undefined;
  model: string | undefined;
  biosVersion: string | undefined;
  biosName: string | undefined;
  biosReleaseDate: number | undefined;
  processorArchitecture: string | undefined;
  suiteMask: number | undefined;
  productType: number | undefined;
  clientVersion: [number, number, number, number];
  osDescription: string | undefined;
  oem: string | undefined;
  deviceType: string | undefined;
  firmwareVersion: string | undefined;
}

export interface RegisterComputerRequest {
  cookie: WireCookie | undefined;
  computerInfo: ComputerInfo;
}

export interface SyncUpdatesRequest {
  cookie: WireCookie | undefined;
  expressQuery: boolean;
  installedNonLeaf: readonly number[];
  otherCached: readonly number[];
  /** Both lists as one string: part of the key of remembered answers (operations.ts). */
  cachedIdsKey: string;
  systemSpecPresent: boolean;
  cachedDriverIds: readonly number[];
  skipSoftwareSync: boolean;
}

export type DeploymentActionName =
  'Install' | 'OptionalInstall' | 'Uninstall' | 'Evaluate' | 'Bundle';

export interface DeploymentInfo {
  id: number;
  action: DeploymentActionName;
  deadline: string | undefined;
  isAssigned: boolean;
  lastChangeTime: string;
}

export interface UpdateInfo {
  id: number;
  deployment: DeploymentInfo;
  isLeaf: boolean;
  xml: string | undefined;
}

export interface SyncAnswer {
  newUpdates: UpdateInfo[];
  outOfScope: number[];
  changedUpdates: UpdateInfo[];
  truncated: boolean;
  newCookie: CookieAnswer;
  /** The driver pass: true when the server has no drivers for this computer. */
  driverSyncNotNeeded: boolean | undefined;
}

export interface RefreshCacheRequest {
  cookie: WireCookie | undefined;
  globalIds: Array<{ updateId: string; revisionNumber: number }>;
}

export interface RefreshCacheAnswer {
  results: Array<{
    revisionId: number;
    globalId: { updateId: string; revisionNumber: number };
    isLeaf: boolean;
    deployment: DeploymentInfo;
  }>;
}

export type FragmentType =
  | 'Published'
  | 'Core'
  | 'Extended'
  | 'VerificationRule'
  | 'LocalizedProperties'
  | 'Eula'
  | 'FileUrl'
  | 'FileDecryption';

export interface GetExtendedUpdateInfoRequest {
  cookie: WireCookie | undefined;
  revisionIds: number[];
  infoTypes: FragmentType[];
  locales: string[];
}

export interface FileLocation {
  /** SHA-1 of the bytes at Url. */
  digest: Buffer;
  url: string;
}

export interface ExtendedInfoAnswer {
  updates: Array<{ id: number; xml: string }>;
  fileLocations: FileLocation[];
  outOfScope: number[];
}

export interface GetFileLocationsRequest {
  cookie: WireCookie | undefined;
  fileDigests: Buffer[];
}

export interface FileLocationsAnswer {
  fileLocations: FileLocation[];
  newCookie: CookieAnswer;
}

/** ReportingEvent (2.2.2.3.1), the fields the server uses. */
export interface ReportingEvent {
  targetSid: string | undefined;
  sequenceNumber: number | undefined;
  timeAtTarget: number | undefined;
  eventInstanceId: string;
  namespaceId: number | undefined;
  eventId: number;
  sourceId: number | undefined;
  updateId: string | undefined;
  revisionNumber: number | undefined;
  win32HResult: number | undefined;
  appName: string | undefined;
  replacementStrings: string[];
}

export interface ReportEventBatchRequest {
  cookie: WireCookie | undefined;
  clientTime: number;
  events: ReportingEvent[];
}
