/**
 * Writes each operation's typed answer as its response element's content, in the element
 * order of the section 6 schemas (a WUA reads them with a generated, order-sensitive reader).
 */
import type {
  AuthorizationCookieAnswer,
  ConfigAnswer,
  CookieAnswer,
  DeploymentInfo,
  ExtendedInfoAnswer,
  FileLocation,
  FileLocationsAnswer,
  RefreshCacheAnswer,
  SyncAnswer,
  UpdateInfo,
} from './contract.js';
import { el, escapeText } from './xml-text.js';

export const dateTime = (ms: number): string => new Date(ms).toISOString();

export function writeConfig(c: ConfigAnswer): string {
  const props = c.properties
    .map(
      ([name, value]) =>
        `<ConfigurationProperty>${el('Name', name)}${el('Value', value)}</ConfigurationProperty>`,
    )
    .join('');
  return (
    '<GetConfigResult>' +
    el('LastChange', dateTime(c.lastChange)) +
    el('IsRegistrationRequired', c.isRegistrationRequired) +
    '<AuthInfo><AuthPlugInInfo>' +
    el('PlugInID', c.plugIn.id) +
    el('ServiceUrl', c.plugIn.serviceUrl) +
    el('Parameter', c.plugIn.parameter) +
    '</AuthPlugInInfo></AuthInfo>' +
    `<Properties>${props}</Properties>` +
    '</GetConfigResult>'
  );
}

export function writeAuthorizationCookie(a: AuthorizationCookieAnswer): string {
  return (
    '<GetAuthorizationCookieResult>' +
    el('PlugInId', a.plugInId) +
    el('CookieData', a.cookieData.toString('base64')) +
    '</GetAuthorizationCookieResult>'
  );
}

function cookieBody(c: CookieAnswer): string {
  return (
    el('Expiration', dateTime(c.expiration)) +
    el('EncryptedData', c.encryptedData.toString('base64'))
  );
}

export function writeCookie(c: CookieAnswer): string {
  return `<GetCookieResult>${cookieBody(c)}</GetCookieResult>`;
}

function deployment(d: DeploymentInfo): string {
  return (
    '<Deployment>' +
    el('ID', d.id) +
    el('Action', d.action) +
    (d.deadline === undefined ? '' : el('Deadline', d.deadline)) +
    el('IsAssigned', d.isAssigned) +
    el('LastChangeTime', d.lastChangeTime) +
    el('AutoSelect', '0') +
    el('AutoDownload', '0') +
    el('SupersedenceBehavior', '0') +
    '</Deployment>'
  );
}

function updateInfo(u: UpdateInfo): string {
  return (
    '<UpdateInfo>' +
    el('ID', u.id) +
    deployment(u.deployment) +
    el('IsLeaf', u.isLeaf) +
    (u.xml === undefined ? '' : `<Xml>${escapeText(u.xml)}</Xml>`) +
    '</UpdateInfo>'
  );
}

const ints = (name: string, ids: readonly number[]): string =>
  ids.length === 0 ? '' : `<${name}>${ids.map((i) => el('int', i)).join('')}</${name}>`;

export function writeSync(s: SyncAnswer): string {
  return (
    '<SyncUpdatesResult>' +
    (s.newUpdates.length === 0
      ? ''
      : `<NewUpdates>${s.newUpdates.map(updateInfo).join('')}</NewUpdates>`) +
    ints('OutOfScopeRevisionIDs', s.outOfScope) +
    (s.changedUpdates.length === 0
      ? ''
      : `<ChangedUpdates>${s.changedUpdates.map(updateInfo).join('')}</ChangedUpdates>`) +
    el('Truncated', s.truncated) +
    `<NewCookie>${cookieBody(s.newCookie)}</NewCookie>` +
    (s.driverSyncNotNeeded === undefined ? '' : el('DriverSyncNotNeeded', s.driverSyncNotNeeded)) +
    '</SyncUpdatesResult>'
  );
}

export function writeRefreshCache(r: RefreshCacheAnswer): string {
  const items = r.results
    .map(
      (x) =>
        '<RefreshCacheResult>' +
        el('RevisionID', x.revisionId) +
        `<GlobalID>${el('UpdateID', x.globalId.updateId)}${el('RevisionNumber', x.globalId.revisionNumber)}</GlobalID>` +
        el('IsLeaf', x.isLeaf) +
        deployment(x.deployment) +
        '</RefreshCacheResult>',
    )
    .join('');
  return `<RefreshCacheResult>${items}</RefreshCacheResult>`;
}

function locations(list: readonly FileLocation[]): string {
  if (list.length === 0) return '';
  const items = list
    .map(
      (f) =>
        `<FileLocation>${el('FileDigest', f.digest.toString('base64'))}${el('Url', f.url)}</FileLocation>`,
    )
    .join('');
  return `<FileLocations>${items}</FileLocations>`;
}

export function writeExtendedInfo(x: ExtendedInfoAnswer): string {
  const updates = x.updates
    .map((u) => `<Update>${el('ID', u.id)}<Xml>${escapeText(u.xml)}</Xml></Update>`)
    .join('');
  return (
    '<GetExtendedUpdateInfoResult>' +
    (updates === '' ? '' : `<Updates>${updates}</Updates>`) +
    locations(x.fileLocations) +
    ints('OutOfScopeRevisionIDs', x.outOfScope) +
    '</GetExtendedUpdateInfoResult>'
  );
}

export function writeFileLocations(f: FileLocationsAnswer): string {
  return (
    '<GetFileLocationsResult>' +
    locations(f.fileLocations) +
    `<NewCookie>${cookieBody(f.newCookie)}</NewCookie>` +
    '</GetFileLocationsResult>'
  );
}

export function writeRegisterComputer(): string {
  return '';
}

export function writeReportEventBatch(ok: boolean): string {
  return el('ReportEventBatchResult', ok);
}
