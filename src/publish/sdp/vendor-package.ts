/**
 * One vendor package, checked and ready to store: the manifest as imported (validated as publish
 * validates it), its rules in normal form, the vendor metadata, and the key that tells an
 * unchanged re-import from a new revision. Import (catalog-import.ts) and `content add`
 * (content-service.ts) both write through this shape, so both store the same thing.
 */
import { createHash } from 'node:crypto';
import { canonicalJson } from '../../catalog/canonical-json.js';
import { parseManifest, type Manifest } from '../../catalog/manifest.js';
import { invalidInput } from '../../errors.js';
import { normalizeRules, type NormalizedRules } from '../rules-check.js';
import type { VendorMetadata } from './vendor-metadata.js';

export interface VendorPackage {
  updateId: string;
  /** The validated manifest; `supersedes` holds every ID the vendor listed, uncapped. */
  manifest: Manifest;
  /** sdp:BundledPackages: stored as relationships of kind 'bundles' (the manifest has no field). */
  bundles: string[];
  rules: NormalizedRules;
  vendor: VendorMetadata;
  /** SHA-256 of the canonical manifest and vendor metadata: equal means an unchanged re-import. */
  metadataKey: string;
}

const GUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

/**
 * Validates an imported manifest. The publish manifest caps `supersedes` at 256 entries, a limit
 * of upcat's authoring format that SoftwareDistributionPackage.xsd does not have
 * (SupersededPackages is unbounded), so the list is checked here and validated apart.
 */
export function toVendorPackage(
  raw: Record<string, unknown>,
  vendor: VendorMetadata,
  options: { mapped?: boolean } = {},
): VendorPackage {
  const supersedes = guidList(raw, 'supersedes');
  const bundles = guidList(raw, 'bundles');
  // The columns of migration 010, with the XSD's own bounds (VendorName 1-200, FileName <= 256).
  if ((vendor.vendor ?? '').length > 200) {
    throw invalidInput('sdp:Properties VendorName: must be at most 200 characters');
  }
  if ((vendor.originFile?.fileName ?? '').length > 256) {
    throw invalidInput('sdp:OriginFile FileName: must be at most 256 characters');
  }
  const publishable: Record<string, unknown> = { ...raw, supersedes: [] };
  delete publishable['bundles'];
  const manifest = parseManifest(publishable);
  manifest.supersedes = supersedes;
  if (manifest.updateId === undefined) {
    throw invalidInput('sdp:Properties: no PackageID (the update ID of a vendor package)');
  }
  // Rules fresh from the SDP mapping are already the rule engine's JSON form (ruleToJson of a
  // validated tree): only their canonical text is needed, not a second parse.
  const rules = options.mapped === true ? canonicalRules(manifest) : normalizeRules(manifest);
  // The key covers the rules through their canonical text, so the large trees are serialized once.
  const rest: Partial<Manifest> = { ...manifest };
  delete rest.isInstalled;
  delete rest.isInstallable;
  // Bundles enter the key only when there are some, so packages imported before bundles were
  // kept still re-import as unchanged.
  const metadataKey = createHash('sha256')
    .update(
      canonicalJson({ manifest: rest, rules, vendor, ...(bundles.length > 0 ? { bundles } : {}) }),
    )
    .digest('hex');
  return { updateId: manifest.updateId, manifest, bundles, rules, vendor, metadataKey };
}

/** A list of update IDs (uncapped, as the XSD's lists are), lower-cased and de-duplicated. */
function guidList(raw: Record<string, unknown>, key: 'supersedes' | 'bundles'): string[] {
  const list = Array.isArray(raw[key]) ? (raw[key] as unknown[]) : [];
  const bad = list.find((id) => typeof id !== 'string' || !GUID.test(id));
  if (bad !== undefined) throw invalidInput(`manifest: ${key}: "${String(bad)}" is not a GUID`);
  return [...new Set(list.map((id) => (id as string).toLowerCase()))];
}

function canonicalRules(manifest: Manifest): NormalizedRules {
  const text = (value: unknown) => (value === undefined ? null : canonicalJson(value));
  return { isInstalled: text(manifest.isInstalled), isInstallable: text(manifest.isInstallable) };
}
