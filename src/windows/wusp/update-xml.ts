/**
 * The full update metadata document that a Windows Update Agent's server holds for each
 * revision ([MS-WUSP] 3.1.1.1 reads it with XPATHs such as /Update/Properties/@UpdateType), in
 * Microsoft's namespaces only: Update, the rule vocabularies (written by the rules module),
 * and the handler's. The fragments that travel (core, extended, localized properties) are cut
 * from it by fragments.ts, as the specification derives them.
 *
 * Differences from upcat's own revision document (src/catalog/update-xml-writer.ts): product and
 * classification are prerequisites on category updates (IsCategory), as WSUS expresses them;
 * the files are the ones a Windows Update Agent downloads (the payload wrapped in a signed CAB,
 * content.ts), and nothing is in upcat's namespace, which WUA would not know.
 */
import type { Handler, ReturnCode } from '../../catalog/manifest.js';
import { CMD_NS, MSP_NS, UPDATE_NS } from '../../catalog/update-xml.js';
import { applicabilityRulesToXml, type Rule } from '../../rules/index.js';
import { XSI_NS } from './soap.js';
import { el, tag } from './xml-text.js';

export const CATEGORY_HANDLER_NS =
  'http://schemas.microsoft.com/msus/2002/12/UpdateHandlers/Category';

/** A file as the agent downloads it: digests of the downloaded bytes. */
export interface DownloadFile {
  name: string;
  size: number;
  sha1: string;
  sha256: string;
}

export interface SoftwareSource {
  updateId: string;
  revisionNumber: number;
  title: string;
  description: string;
  created: string;
  handler: Handler;
  isInstalled: Rule | undefined;
  isInstallable: Rule | undefined;
  /** Category updates this one belongs to (product, classification): one IsCategory clause each. */
  categories: string[];
  /** upcat prerequisites: an AND of OR-groups of update IDs. */
  prerequisites: string[][];
  bundles: Array<{ updateId: string; revisionNumber: number }>;
  supersedes: string[];
  /** The file the handler runs from (inside the CAB), and the CAB itself. */
  file: DownloadFile | undefined;
}

export type CategoryType = 'Company' | 'Product' | 'UpdateClassification';

export interface CategorySource {
  updateId: string;
  type: CategoryType;
  title: string;
  /** Product categories sit under their company (a prerequisite, IsCategory). */
  parent: string | undefined;
}

const b64 = (hex: string): string => Buffer.from(hex, 'hex').toString('base64');

const identity = (updateId: string, revisionNumber?: number): string =>
  tag('upd:UpdateIdentity', [
    ['UpdateID', updateId],
    ['RevisionNumber', revisionNumber],
  ]);

function root(inner: string, extraNs: Array<[string, string]>): string {
  const ns = [['upd', UPDATE_NS], ...extraNs, ['xsi', XSI_NS]]
    .map(([p, u]) => ` xmlns:${p}="${u}"`)
    .join('');
  return `<upd:Update${ns}>${inner}</upd:Update>`;
}

export function softwareUpdateXml(s: SoftwareSource): string {
  const msi = s.handler.type === 'msi';
  const reboots = s.handler.returnCodes.some((c) => c.reboot);
  const behaviour = tag('upd:InstallationBehavior', [
    ['RebootBehavior', reboots ? 'CanRequestReboot' : 'NeverReboots'],
  ]);
  const canUninstall =
    msi || (s.handler.type === 'commandLine' && s.handler.uninstall !== undefined);
  const size = s.file?.size;
  const properties = tag(
    'upd:Properties',
    [
      ['DefaultPropertiesLanguage', 'en'],
      ['UpdateType', 'Software'],
      ['Handler', msi ? MSP_NS : CMD_NS],
      ['CreationDate', s.created],
      ['ExplicitlyDeployable', 'true'],
      ['AutoSelectOnWebSites', 'true'],
      ['PublicationState', 'Published'],
      ['MaxDownloadSize', size],
      ['MinDownloadSize', size],
    ],
    behaviour +
      (canUninstall
        ? tag('upd:UninstallationBehavior', [
            ['RebootBehavior', reboots ? 'CanRequestReboot' : 'NeverReboots'],
          ])
        : ''),
  );
  const localized =
    '<upd:LocalizedPropertiesCollection><upd:LocalizedProperties>' +
    el('upd:Language', 'en') +
    el('upd:Title', s.title) +
    (s.description === '' ? '' : el('upd:Description', s.description)) +
    '</upd:LocalizedProperties></upd:LocalizedPropertiesCollection>';
  const clauses = [
    ...s.categories.map((c) => tag('upd:AtLeastOne', [['IsCategory', 'true']], identity(c))),
    ...s.prerequisites.map((group) =>
      group.length === 1
        ? identity(group[0] as string)
        : `<upd:AtLeastOne>${group.map((g) => identity(g)).join('')}</upd:AtLeastOne>`,
    ),
  ];
  const relationships =
    '<upd:Relationships>' +
    (clauses.length === 0 ? '' : `<upd:Prerequisites>${clauses.join('')}</upd:Prerequisites>`) +
    (s.bundles.length === 0
      ? ''
      : `<upd:BundledUpdates>${s.bundles.map((b) => identity(b.updateId, b.revisionNumber)).join('')}</upd:BundledUpdates>`) +
    (s.supersedes.length === 0
      ? ''
      : `<upd:SupersededUpdates>${s.supersedes.map((u) => identity(u)).join('')}</upd:SupersededUpdates>`) +
    '</upd:Relationships>';
  const rules =
    s.isInstalled === undefined && s.isInstallable === undefined
      ? ''
      : applicabilityRulesToXml(
          { isInstalled: s.isInstalled, isInstallable: s.isInstallable },
          { family: 'update' },
        );
  const files =
    s.file === undefined
      ? ''
      : '<upd:Files>' +
        tag(
          'upd:File',
          [
            ['Digest', b64(s.file.sha1)],
            ['DigestAlgorithm', 'SHA1'],
            ['FileName', s.file.name],
            ['Size', s.file.size],
            ['Modified', s.created],
          ],
          tag('upd:AdditionalDigest', [['Algorithm', 'SHA256']], b64(s.file.sha256)),
        ) +
        '</upd:Files>';
  return root(
    identity(s.updateId, s.revisionNumber) +
      properties +
      localized +
      relationships +
      rules +
      files +
      handlerData(s.handler),
    [msi ? ['msp', MSP_NS] : ['cmd', CMD_NS]],
  );
}

/**
 * HandlerSpecificData: CommandLineInstallation (InstallCommand with Program, Arguments,
 * RebootByDefault, DefaultResult and ReturnCode children, as in WSUS metadata), or
 * WindowsInstallerApp (MsiData with ProductCode, MsiFile, CommandLine, as a real WSUS 2025
 * writes it for an MSI it published). Return codes of the MSI handler are fixed by Windows
 * Installer and have no place in its schema.
 */
function handlerData(handler: Handler): string {
  if (handler.type === 'commandLine') {
    return tag(
      'upd:HandlerSpecificData',
      [['xsi:type', 'cmd:CommandLineInstallation']],
      tag(
        'cmd:InstallCommand',
        [
          ['Program', handler.program],
          ['Arguments', handler.arguments === '' ? undefined : handler.arguments],
          ['RebootByDefault', 'false'],
          ['DefaultResult', handler.defaultResult],
        ],
        handler.returnCodes.map(returnCode).join(''),
      ),
    );
  }
  return tag(
    'upd:HandlerSpecificData',
    [['xsi:type', 'msp:WindowsInstallerApp']],
    tag('msp:MsiData', [
      ['ProductCode', handler.productCode],
      ['MsiFile', handler.program],
      ['CommandLine', handler.installCommandLine === '' ? undefined : handler.installCommandLine],
      [
        'UninstallCommandLine',
        handler.uninstallCommandLine === '' ? undefined : handler.uninstallCommandLine,
      ],
    ]),
  );
}

function returnCode(c: ReturnCode): string {
  return tag('cmd:ReturnCode', [
    ['Code', c.code],
    ['Result', c.result],
    ['Reboot', c.reboot ? 'true' : 'false'],
  ]);
}

/**
 * A category update (company, product or classification): detectoids and categories are
 * updates too in the prerequisite graph ([MS-WUSP] 3.1.1, Prerequisite Table IsCategory).
 * [unverified without a Windows machine] the CategoryInformation attributes follow WSUS
 * category metadata as remembered, not a captured document.
 */
export function categoryUpdateXml(c: CategorySource): string {
  const relationships =
    c.parent === undefined
      ? '<upd:Relationships/>'
      : `<upd:Relationships><upd:Prerequisites>${tag('upd:AtLeastOne', [['IsCategory', 'true']], identity(c.parent))}</upd:Prerequisites></upd:Relationships>`;
  return root(
    identity(c.updateId, 1) +
      tag('upd:Properties', [
        ['DefaultPropertiesLanguage', 'en'],
        ['UpdateType', 'Category'],
        ['PublicationState', 'Published'],
      ]) +
      '<upd:LocalizedPropertiesCollection><upd:LocalizedProperties>' +
      el('upd:Language', 'en') +
      el('upd:Title', c.title) +
      '</upd:LocalizedProperties></upd:LocalizedPropertiesCollection>' +
      relationships +
      tag(
        'upd:HandlerSpecificData',
        [['xsi:type', 'cat:Category']],
        tag('cat:CategoryInformation', [
          ['CategoryType', c.type],
          ['ProhibitsSubcategories', c.type === 'UpdateClassification' ? 'true' : 'false'],
          ['ProhibitsUpdates', c.type === 'Company' ? 'true' : 'false'],
          ['DisplayOrder', 0],
          ['ExcludedByDefault', 'false'],
        ]),
      ),
    [['cat', CATEGORY_HANDLER_NS]],
  );
}
