/**
 * One revision as the exporter sees it: what the catalog tables hold, rules parsed. Pure data.
 */
import type { Handler } from '../../catalog/manifest.js';
import type { VendorMetadata } from '../../publish/sdp/vendor-metadata.js';
import type { Rule } from '../../rules/index.js';

export interface ExportFile {
  name: string;
  sha1: string;
  sha256: string;
  size: number;
  kind: 'file' | 'package';
}

export interface ExportRevision {
  updateId: string;
  revision: number;
  title: string;
  description: string;
  product: string;
  classification: string;
  version: string;
  /** When this revision was published (ISO 8601). */
  createdAt: string;
  handler: Handler;
  isInstalled?: Rule;
  isInstallable?: Rule;
  file?: ExportFile;
  supersedes: string[];
  /** AND of OR-groups of UpdateIDs. */
  prerequisites: string[][];
  bundles: string[];
  /** What an imported vendor package said beyond the manifest (migration 010), written back. */
  vendor?: VendorMetadata;
  /** Imported metadata-only: the payload is not on this site (the vendor's OriginFile is). */
  awaitingContent: boolean;
}

/** A package left out of an export, and why. */
export interface LeftOut {
  updateId: string;
  revision: number;
  title: string;
  reason: string;
}

/** Choices the site makes for every exported package. */
export interface ExportOptions {
  /** sdp:Properties/@VendorName (1-200 characters). */
  vendorName: string;
  /** Base of OriginUri (`<base>/content/<sha256>`); no OriginUri without it. */
  contentBaseUrl?: string;
}
