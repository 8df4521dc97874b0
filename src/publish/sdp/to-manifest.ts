/**
 * A SoftwareDistributionPackage onto a publish manifest (issue 4, item 5): properties, the
 * IsInstalled / IsInstallable rules of the package and of its installable item (and-ed, as the
 * SDP schema says), installer data, superseded, prerequisite and bundled packages. Rules are read in import mode:
 * an element outside the rule vocabulary is kept verbatim (it evaluates to unknown) and
 * reported. Everything else the manifest has no place for is reported by name, never dropped
 * silently. The result is the JSON object that parseManifest accepts.
 */
import { invalidInput } from '../../errors.js';
import { ruleFromXmlElement, ruleToJson, type Rule } from '../../rules/index.js';
import type { XmlElement } from '../../rules/safe-xml.js';
import { CLASSIFICATIONS } from '../../catalog/manifest.js';
import { mapInstaller } from './installer.js';
import { readVendorMetadata, type VendorMetadata } from './vendor-metadata.js';
import { chooseVersion } from './version.js';
import { attr, child, children, NS, qualifiedName, text, type Unmapped } from './xml-nodes.js';

export interface SdpImport {
  /** The manifest, or undefined when a required part (title, installer...) cannot be mapped. */
  manifest?: Record<string, unknown>;
  packageId?: string;
  title?: string;
  /** Why no manifest could be made. */
  errors: string[];
  /** Rule elements kept verbatim as Unsupported. */
  unsupportedRules: Unmapped[];
  /** Everything else that the manifest cannot carry. */
  unmapped: Unmapped[];
  /** Where the version came from (SDP has no version field). */
  versionSource?: string;
  /** True when the version was not stated by the SDP (taken from the title or the date). */
  versionGuessed?: boolean;
  /** The file the installer runs: the payload to publish. */
  fileName?: string;
  /** What the vendor says beyond the manifest (vendor-metadata.ts). */
  vendor: VendorMetadata;
}

/** Maps one sdp:SoftwareDistributionPackage (or smc:SoftwareDistributionPackage) element. */
export function sdpToManifest(root: XmlElement, path = 'SoftwareDistributionPackage'): SdpImport {
  const read = readVendorMetadata(root, path);
  const out: SdpImport = {
    errors: [...read.errors],
    unsupportedRules: [],
    unmapped: [],
    vendor: read.metadata,
  };
  const manifest: Record<string, unknown> = {};
  const note = (name: string, at: string, reason: string) =>
    out.unmapped.push({ name, path: at, reason });

  const properties = child(root, NS.sdp, 'Properties');
  if (properties === undefined) out.errors.push(`${path}: no sdp:Properties`);
  else mapProperties(properties, `${path}.Properties`, manifest, out, note);

  const localized = children(root, NS.sdp, 'LocalizedProperties');
  const first = localized[0];
  const title = text(first && child(first, NS.sdp, 'Title'));
  if (title === undefined) out.errors.push(`${path}.LocalizedProperties: no sdp:Title`);
  else {
    manifest.title = title;
    out.title = title;
  }
  const description = text(first && child(first, NS.sdp, 'Description'));
  if (description !== undefined) manifest.description = description;
  localized
    .slice(1)
    .forEach((l, i) =>
      note(
        'sdp:LocalizedProperties',
        `${path}.LocalizedProperties[${i + 1}]`,
        `only the first language is kept (this one is ${text(child(l, NS.sdp, 'Language')) ?? '?'})`,
      ),
    );

  manifest.classification = classification(root, path, out, note);
  const rules = mapRules(root, path, out);
  if (rules.isInstalled !== undefined) manifest.isInstalled = ruleToJson(rules.isInstalled);
  if (rules.isInstallable !== undefined) manifest.isInstallable = ruleToJson(rules.isInstallable);

  // No cap: the XSD's SupersededPackages is unbounded, and BIOS packages list ~400 ancestors.
  const supersedes = [...new Set(guidsIn(child(root, NS.sdp, 'SupersededPackages')))];
  if (supersedes.length > 0) manifest.supersedes = supersedes;
  const prerequisites = children(root, NS.sdp, 'Prerequisites').flatMap((p) =>
    children(p, NS.sdp, 'AtLeastOne').map((group) => guidsIn(group)),
  );
  if (prerequisites.length > 0) manifest.prerequisites = prerequisites;
  // Bundles become relationships of kind 'bundles' (vendor-package.ts carries them apart from
  // the publish manifest, which has no such field); absent ones wait in pending_references.
  const bundles = [...new Set(guidsIn(child(root, NS.sdp, 'BundledPackages')))];
  if (bundles.length > 0) manifest.bundles = bundles;

  mapItem(root, path, manifest, out, note);
  const choice = chooseVersion(rules.isInstalled, out.title, out.vendor.creationDate);
  manifest.version = choice.version;
  out.versionSource = choice.source;
  out.versionGuessed = choice.guessed;
  if (choice.vendorText !== undefined) out.vendor.vendorVersion = choice.vendorText;
  for (const c of root.children) {
    if (c.uri !== NS.sdp || !KNOWN.has(c.local)) {
      note(qualifiedName(c), `${path}.${c.local}`, 'not part of the SDP schema; ignored');
    }
  }
  if (out.errors.length === 0) out.manifest = manifest;
  return out;
}

const KNOWN = new Set([
  'Properties',
  'LocalizedProperties',
  'UpdateSpecificData',
  'ApplicationSpecificData',
  'IsInstallable',
  'IsInstalled',
  'SupersededPackages',
  'Prerequisites',
  'BundledPackages',
  'InstallableItem',
]);

type Note = (name: string, at: string, reason: string) => void;

function mapProperties(
  properties: XmlElement,
  at: string,
  manifest: Record<string, unknown>,
  out: SdpImport,
  note: Note,
): void {
  const packageId = attr(properties, 'PackageID');
  if (packageId !== undefined) {
    manifest.updateId = packageId;
    out.packageId = packageId;
  }
  // Vendor product names are categories ("Driver", "Software"): kept as given. The update's
  // identity is its PackageID, so unrelated packages of one product never collide.
  const product = text(children(properties, NS.sdp, 'ProductName')[0]);
  if (product === undefined) {
    // BUM: ProductName defaults to "Locally Published Updates".
    manifest.product = 'Locally Published Updates';
    note('sdp:ProductName', at, 'none given; "Locally Published Updates" used, as WSUS does');
  } else manifest.product = product;
  const state = attr(properties, 'PublicationState');
  if (state !== undefined && state !== 'Published') {
    note('PublicationState', at, `"${state}": imported as an active update`);
  }
}

function classification(root: XmlElement, path: string, out: SdpImport, note: Note): string {
  const application = child(root, NS.sdp, 'ApplicationSpecificData');
  if (application !== undefined) return 'Applications';
  const data = child(root, NS.sdp, 'UpdateSpecificData');
  if (data === undefined) {
    out.errors.push(`${path}: no sdp:UpdateSpecificData or sdp:ApplicationSpecificData`);
    return 'Updates';
  }
  const at = `${path}.UpdateSpecificData`;
  // MsrcSeverity, SecurityBulletinID, CveID and KBArticleID are carried as vendor metadata.
  const carried = new Set(['SecurityBulletinID', 'CveID', 'KBArticleID']);
  for (const c of data.children) {
    if (c.uri === NS.sdp && carried.has(c.local)) continue;
    note(qualifiedName(c), at, `"${text(c) ?? ''}" is not part of the schema; ignored`);
  }
  const value = attr(data, 'UpdateClassification') ?? 'Updates';
  if ((CLASSIFICATIONS as readonly string[]).includes(value)) return value;
  note('UpdateClassification', at, `"${value}" is not an upcat classification; Updates is used`);
  return 'Updates';
}

interface Rules {
  isInstalled?: Rule;
  isInstallable?: Rule;
}

/** Package rules and the (first) item's rules, and-ed (SoftwareDistributionPackage.xsd). */
function mapRules(root: XmlElement, path: string, out: SdpImport): Rules {
  const item = child(root, NS.sdp, 'InstallableItem');
  const itemRules = item && child(item, NS.sdp, 'ApplicabilityRules');
  const itemPath = `${path}.InstallableItem[0].ApplicabilityRules`;
  if (itemRules !== undefined) {
    for (const c of itemRules.children) {
      if (c.uri === NS.sdp && (c.local === 'IsInstalled' || c.local === 'IsInstallable')) continue;
      out.unmapped.push({
        name: qualifiedName(c),
        path: `${itemPath}.${c.local}`,
        reason: 'only IsInstalled and IsInstallable are evaluated',
      });
    }
  }
  const read = (parent: XmlElement | undefined, name: string, at: string): Rule | undefined => {
    const holder = parent && child(parent, NS.sdp, name);
    const element = holder?.children[0];
    if (element === undefined) return undefined;
    const result = ruleFromXmlElement(element, { mode: 'import', path: `${at}.${name}` });
    out.unsupportedRules.push(...result.unsupported);
    return result.rule;
  };
  const both = (a: Rule | undefined, b: Rule | undefined): Rule | undefined =>
    a === undefined ? b : b === undefined ? a : { kind: 'And', rules: [a, b] };
  return {
    isInstalled: both(read(root, 'IsInstalled', path), read(itemRules, 'IsInstalled', itemPath)),
    isInstallable: both(
      read(root, 'IsInstallable', path),
      read(itemRules, 'IsInstallable', itemPath),
    ),
  };
}

function mapItem(
  root: XmlElement,
  path: string,
  manifest: Record<string, unknown>,
  out: SdpImport,
  note: Note,
): void {
  const items = children(root, NS.sdp, 'InstallableItem');
  items
    .slice(1)
    .forEach((_, i) =>
      note(
        'sdp:InstallableItem',
        `${path}.InstallableItem[${i + 1}]`,
        'one installable item per update; first kept',
      ),
    );
  const item = items[0];
  if (item === undefined) {
    out.errors.push(`${path}: no sdp:InstallableItem (nothing to install)`);
    return;
  }
  const at = `${path}.InstallableItem[0]`;
  // Install/uninstall properties and the OriginFile are carried as vendor metadata.
  const skip = new Set([
    'ApplicabilityRules',
    'OriginFile',
    'InstallProperties',
    'UninstallProperties',
  ]);
  for (const c of item.children) {
    if (c.uri === NS.sdp && skip.has(c.local)) continue;
    if (c.uri === NS.sdp) {
      const detail = c.attributes.map((a) => `${a.local}=${a.value}`).join(' ') || text(c) || '';
      note(qualifiedName(c), `${at}.${c.local}`, `"${detail}" has no manifest field`);
      continue;
    }
    const installer = mapInstaller(c, at);
    out.unmapped.push(...installer.unmapped);
    out.vendor.duplicateReturnCodes.push(...(installer.duplicateReturnCodes ?? []));
    if (installer.handler !== undefined) {
      manifest.handler = installer.handler;
      if (installer.program !== undefined) out.fileName = installer.program;
    }
  }
  const origin = child(item, NS.sdp, 'OriginFile');
  const originName = origin && attr(origin, 'FileName');
  if (originName !== undefined) out.fileName ??= originName;
  if (manifest.handler === undefined) out.errors.push(`${at}: no installer that upcat can run`);
}

function guidsIn(element: XmlElement | undefined): string[] {
  return (element?.children ?? [])
    .filter((c) => c.uri === NS.sdp && c.local === 'PackageID')
    .map((c) => text(c) ?? '');
}

/** Refuses a document whose root is not an SDP, naming what it is. */
export function requireSdpRoot(root: XmlElement, label: string): void {
  if (root.uri === NS.sdp && root.local === 'SoftwareDistributionPackage') return;
  throw invalidInput(
    `${label}: expected an sdp:SoftwareDistributionPackage document (namespace ${NS.sdp}), got ${qualifiedName(root)}`,
  );
}
