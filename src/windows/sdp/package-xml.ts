/**
 * One revision as the children of a SoftwareDistributionPackage (SoftwareDistributionPackage.xsd;
 * interop.md §1.2 gives the content model in order). The same body goes under an
 * sdp:SoftwareDistributionPackage root (a .sdp file) or an smc:SoftwareDistributionPackage
 * wrapper (one package of a catalog). Everything that would make the document invalid is
 * decided here: the package is written validly, or left out with the reason.
 */
import { createHash } from 'node:crypto';
import type { Handler } from '../../catalog/manifest.js';
import type { InstallProperties, RebootBehavior } from '../../publish/sdp/vendor-metadata.js';
import type { Rule } from '../../rules/index.js';
import type { ExportOptions, ExportRevision } from './model.js';
import { ruleXml } from './rule-xml.js';
import { mapRuleForSdp } from './rules-map.js';
import { element, textElement } from './xml-text.js';

export type PackageBody =
  { ok: true; body: string; notes: string[] } | { ok: false; reason: string };

/** sdp:UpdateClassification; upcat's other classifications are written as the nearest one. */
const UPDATE_CLASSIFICATIONS = new Set([
  'Updates',
  'Critical Updates',
  'Security Updates',
  'Feature Packs',
  'Update Rollups',
  'Service Packs',
  'Tools',
  'Hotfixes',
  'Drivers',
]);

const TITLE_MAX = 200;
const DESCRIPTION_MAX = 1500;
const FILE_PATH_MAX = 260;
const FILE_NAME_MAX = 256;

export function packageBody(rev: ExportRevision, options: ExportOptions): PackageBody {
  const notes: string[] = [];
  const refuse = checkLengths(rev);
  if (refuse !== undefined) return { ok: false, reason: refuse };
  if (rev.file === undefined) return { ok: false, reason: 'the revision has no payload file' };
  if (rev.file.size < 1)
    return { ok: false, reason: 'its payload is empty (bt:FileSize is positive)' };
  if (rev.file.kind === 'package') {
    return {
      ok: false,
      reason: `its payload is an upcat package (zip) run from inside; SDP installers run one file`,
    };
  }

  const rules = mapRules(rev, notes);
  if ('reason' in rules) return { ok: false, reason: rules.reason };
  if (rules.isInstallable?.kind === 'False') {
    return { ok: false, reason: 'not applicable to Windows (IsInstallable is false there)' };
  }
  const installer = installerXml(rev.handler, rev.file.name, notes);
  if ('reason' in installer) return { ok: false, reason: installer.reason };

  const body = [
    propertiesXml(rev, options, notes),
    localizedXml(rev, notes),
    classificationXml(rev, notes),
    relationshipsXml(rev),
    element(
      'sdp:InstallableItem',
      [['ID', itemId(rev)]],
      [
        applicabilityXml(rules),
        installPropertiesXml('sdp:InstallProperties', rev.vendor?.installProperties, {
          rebootBehavior: rebootBehavior(rev.handler),
        }),
        // A vendor package has UninstallProperties exactly when the vendor wrote them.
        ...((
          rev.vendor === undefined
            ? hasUninstall(rev.handler)
            : rev.vendor.uninstallProperties !== undefined
        )
          ? [installPropertiesXml('sdp:UninstallProperties', rev.vendor?.uninstallProperties, {})]
          : []),
        installer.xml,
        originFileXml(rev, options),
      ],
    ),
  ].join('');
  return { ok: true, body, notes };
}

function checkLengths(rev: ExportRevision): string | undefined {
  if (rev.title.length > TITLE_MAX) {
    return `its title is ${rev.title.length} characters; an SDP title holds at most ${TITLE_MAX}`;
  }
  if (rev.product.length > TITLE_MAX) {
    return `its product name is ${rev.product.length} characters; an SDP holds at most ${TITLE_MAX}`;
  }
  if (rev.file !== undefined && rev.file.name.length > FILE_NAME_MAX) {
    return `its file name is longer than ${FILE_NAME_MAX} characters`;
  }
  return undefined;
}

function propertiesXml(rev: ExportRevision, options: ExportOptions, notes: string[]): string {
  const v = rev.vendor;
  const urls = (list: readonly string[], what: string) =>
    list.filter((u) => {
      const ok = HTTP_URL.test(u) && u.length <= URL_MAX;
      if (!ok)
        notes.push(
          `${what} "${u}" is not an http(s) URL of at most ${URL_MAX} characters; left out`,
        );
      return ok;
    });
  const products = (v?.productNames.length ?? 0) > 0 ? (v?.productNames ?? []) : [rev.product];
  return element(
    'sdp:Properties',
    [
      ['PackageID', rev.updateId],
      ['CreationDate', validDate(v?.creationDate) ?? rev.createdAt],
      ['CanSourceBeRequired', v?.canSourceBeRequired],
      ['VendorName', (v?.vendor ?? options.vendorName).slice(0, TITLE_MAX)],
      ['PublicationState', 'Published'],
      ['UpdateType', oneOf(v?.updateType, UPDATE_TYPES)],
    ],
    [
      ...urls(v?.moreInfoUrls ?? [], 'MoreInfoUrl').map((u) => textElement('sdp:MoreInfoUrl', u)),
      ...urls(v?.supportUrl === undefined ? [] : [v.supportUrl], 'SupportUrl').map((u) =>
        textElement('sdp:SupportUrl', u),
      ),
      ...products
        .filter((p) => p.length <= TITLE_MAX)
        .map((p) => textElement('sdp:ProductName', p)),
    ],
  );
}

const HTTP_URL = /^https?:\/\/\S+$/;
const URL_MAX = 2083;
const UPDATE_TYPES = ['Software', 'Driver', 'Detectoid'] as const;
const SEVERITIES = ['Critical', 'Important', 'Moderate', 'Low'] as const;
const REBOOT_BEHAVIORS = ['NeverReboots', 'AlwaysRequiresReboot', 'CanRequestReboot'] as const;
const IMPACTS = ['Normal', 'Minor', 'RequiresExclusiveHandling'] as const;

function oneOf<T extends string>(value: string | undefined, allowed: readonly T[]): T | undefined {
  return (allowed as readonly string[]).includes(value ?? '') ? (value as T) : undefined;
}

function validDate(value: string | undefined): string | undefined {
  return value !== undefined && !Number.isNaN(Date.parse(value)) ? value : undefined;
}

/** A bounded text field (SecurityBulletinID and KBArticleID 1-15, CveID 1-40), else undefined. */
function bounded(value: string | undefined, max: number): string | undefined {
  return value !== undefined && value.length >= 1 && value.length <= max ? value : undefined;
}

function localizedXml(rev: ExportRevision, notes: string[]): string {
  let description = rev.description;
  if (description.trim() === '') {
    // sdp:Description must hold 1 to 1500 characters.
    description = rev.title;
    notes.push('no description: the title is written as the description');
  } else if (description.length > DESCRIPTION_MAX) {
    description = `${description.slice(0, DESCRIPTION_MAX - 1)}…`;
    notes.push(
      `description cut to ${DESCRIPTION_MAX} characters (it has ${rev.description.length})`,
    );
  }
  return element(
    'sdp:LocalizedProperties',
    [],
    [
      textElement('sdp:Language', 'en'),
      textElement('sdp:Title', rev.title),
      textElement('sdp:Description', description),
    ],
  );
}

function classificationXml(rev: ExportRevision, notes: string[]): string {
  if (rev.classification === 'Applications') return element('sdp:ApplicationSpecificData', []);
  let classification = rev.classification;
  if (!UPDATE_CLASSIFICATIONS.has(classification)) {
    notes.push(`classification "${classification}" has no SDP value; written as "Updates"`);
    classification = 'Updates';
  }
  const v = rev.vendor;
  const cves = (v?.cveIds ?? []).flatMap((c) => bounded(c, 40) ?? []);
  const bulletin = bounded(v?.securityBulletinId, 15);
  const kb = bounded(v?.kbArticleId, 15);
  return element(
    'sdp:UpdateSpecificData',
    [
      ['MsrcSeverity', oneOf(v?.severity, SEVERITIES)],
      ['UpdateClassification', classification],
    ],
    [
      ...(bulletin === undefined ? [] : [textElement('sdp:SecurityBulletinID', bulletin)]),
      ...cves.map((c) => textElement('sdp:CveID', c)),
      ...(kb === undefined ? [] : [textElement('sdp:KBArticleID', kb)]),
    ],
  );
}

/** SupersededPackages, Prerequisites (one AtLeastOne per OR-group, the groups AND-ed), BundledPackages. */
function relationshipsXml(rev: ExportRevision): string {
  const ids = (list: string[]) => list.map((id) => textElement('sdp:PackageID', id));
  const out: string[] = [];
  if (rev.supersedes.length > 0)
    out.push(element('sdp:SupersededPackages', [], ids(rev.supersedes)));
  if (rev.prerequisites.length > 0) {
    out.push(
      element(
        'sdp:Prerequisites',
        [],
        rev.prerequisites.map((group) => element('sdp:AtLeastOne', [], ids(group))),
      ),
    );
  }
  if (rev.bundles.length > 0) out.push(element('sdp:BundledPackages', [], ids(rev.bundles)));
  return out.join('');
}

interface MappedRules {
  isInstalled?: Rule;
  isInstallable?: Rule;
}

function mapRules(rev: ExportRevision, notes: string[]): MappedRules | { reason: string } {
  const out: MappedRules = {};
  for (const [label, rule] of [
    ['IsInstalled', rev.isInstalled],
    ['IsInstallable', rev.isInstallable],
  ] as const) {
    if (rule === undefined) continue;
    const mapped = mapRuleForSdp(rule, label);
    if (!mapped.ok) return { reason: mapped.reason };
    notes.push(...mapped.notes);
    if (label === 'IsInstalled') out.isInstalled = mapped.rule;
    else out.isInstallable = mapped.rule;
  }
  return out;
}

/** The item's rules, in the item order of the schema: IsInstalled, then IsInstallable. */
function applicabilityXml(rules: MappedRules): string {
  const parts: string[] = [];
  if (rules.isInstalled !== undefined) {
    parts.push(element('sdp:IsInstalled', [], [ruleXml(rules.isInstalled)]));
  }
  if (rules.isInstallable !== undefined) {
    parts.push(element('sdp:IsInstallable', [], [ruleXml(rules.isInstallable)]));
  }
  return parts.length === 0 ? '' : element('sdp:ApplicabilityRules', [], parts);
}

/**
 * sdp:InstallProperties/@RebootBehavior from the return codes: a reboot on some code is
 * CanRequestReboot, none is NeverReboots, a reboot on every listed code with a failing
 * default is AlwaysRequiresReboot.
 */
function rebootBehavior(handler: Handler): RebootBehavior {
  const codes = handler.returnCodes;
  const reboots = codes.filter((c) => c.reboot).length;
  if (reboots === 0) return 'NeverReboots';
  if (reboots === codes.length && handler.defaultResult === 'Failed') return 'AlwaysRequiresReboot';
  return 'CanRequestReboot';
}

/** The vendor's install properties as it wrote them, else upcat's (reboot behaviour from return codes). */
function installPropertiesXml(
  name: string,
  vendor: InstallProperties | undefined,
  derived: InstallProperties,
): string {
  const p = vendor ?? derived;
  return element(name, [
    ['CanRequestUserInput', p.canRequestUserInput],
    ['RequiresNetworkConnectivity', p.requiresNetworkConnectivity],
    ['Impact', oneOf(p.impact, IMPACTS)],
    ['RebootBehavior', oneOf(p.rebootBehavior, REBOOT_BEHAVIORS)],
  ]);
}

function hasUninstall(handler: Handler): boolean {
  return handler.type === 'msi' || handler.uninstall !== undefined;
}

function installerXml(
  handler: Handler,
  fileName: string,
  notes: string[],
): { xml: string } | { reason: string } {
  if (handler.type === 'commandLine') {
    if (handler.program.length > FILE_PATH_MAX) {
      return { reason: `its program path is longer than ${FILE_PATH_MAX} characters` };
    }
    if (handler.uninstall !== undefined) {
      notes.push('the uninstall command line has no place in cmd:CommandLineInstallerData');
    }
    return {
      xml: element(
        'cmd:CommandLineInstallerData',
        [
          ['Program', handler.program],
          ['Arguments', handler.arguments === '' ? undefined : handler.arguments],
          ['DefaultResult', handler.defaultResult],
        ],
        handler.returnCodes.map((c) =>
          element('cmd:ReturnCode', [
            ['Code', c.code > 2147483647 ? c.code - 4294967296 : c.code],
            ['Result', c.result],
            ['Reboot', c.reboot],
          ]),
        ),
      ),
    };
  }
  const msiFile = handler.program ?? fileName;
  if (msiFile.length > FILE_PATH_MAX) {
    return { reason: `its MSI file name is longer than ${FILE_PATH_MAX} characters` };
  }
  notes.push(...msiReturnCodeNotes(handler));
  return {
    xml: element('msi:MsiInstallerData', [
      ['MsiFile', msiFile],
      ['ProductCode', handler.productCode],
      // msi:MsiInstallerCommandLine is 1-32768 characters: an empty one is left out.
      ['CommandLine', handler.installCommandLine === '' ? undefined : handler.installCommandLine],
      [
        'UninstallCommandLine',
        handler.uninstallCommandLine === '' ? undefined : handler.uninstallCommandLine,
      ],
    ]),
  };
}

const MSI_DEFAULT_CODES = '0:Succeeded:false,1641:Succeeded:true,3010:Succeeded:true';

function msiReturnCodeNotes(handler: Extract<Handler, { type: 'msi' }>): string[] {
  const codes = handler.returnCodes.map((c) => `${c.code}:${c.result}:${c.reboot}`).join(',');
  return codes === MSI_DEFAULT_CODES
    ? []
    : ["msi:MsiInstallerData has no return codes; Windows Installer's own meanings apply"];
}

/** sdp:OriginFile: Digest is the base64 of the raw SHA-1 (bt:FileDigest), SHA-256 beside it. */
function originFileXml(rev: ExportRevision, options: ExportOptions): string {
  const file = rev.file;
  if (file === undefined) return '';
  const base = options.contentBaseUrl?.replace(/\/+$/, '');
  const vendorFile = rev.vendor?.originFile;
  // A payload on the site is downloaded from the site; a metadata-only one from the vendor.
  const uri = rev.awaitingContent
    ? vendorFile?.uri
    : base === undefined
      ? undefined
      : `${base}/content/${file.sha256}`;
  return element(
    'sdp:OriginFile',
    [
      ['Digest', Buffer.from(file.sha1, 'hex').toString('base64')],
      ['FileName', file.name],
      ['Size', file.size],
      ['Modified', validDate(vendorFile?.modified) ?? rev.createdAt],
      ['OriginUri', uri],
    ],
    file.sha256 === ''
      ? []
      : [
          `<sdp:AdditionalDigest Algorithm="SHA256">${Buffer.from(file.sha256, 'hex').toString('base64')}</sdp:AdditionalDigest>`,
        ],
  );
}

/** A stable InstallableItem ID per revision: a name-based UUID (RFC 9562 §5.5) of update and revision. */
export function itemId(rev: Pick<ExportRevision, 'updateId' | 'revision'>): string {
  const hash = createHash('sha1').update(`upcat-item:${rev.updateId}:${rev.revision}`).digest();
  hash[6] = ((hash[6] ?? 0) & 0x0f) | 0x50;
  hash[8] = ((hash[8] ?? 0) & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
