/** How an SDP import is reported, by `upcat publish --manifest x.sdp` and `upcat import-catalog`. */
import type { SdpImport } from './to-manifest.js';
import type { Unmapped } from './xml-nodes.js';

export interface SdpReportJson {
  packageId: string | null;
  title: string | null;
  mapped: boolean;
  version: string | null;
  versionSource: string | null;
  /** True when the SDP states no version and it was taken from the title or the date. */
  versionGuessed: boolean;
  fileName: string | null;
  errors: string[];
  unsupportedRules: Unmapped[];
  unmapped: Unmapped[];
}

export function sdpReportJson(sdp: SdpImport): SdpReportJson {
  const version = sdp.manifest?.['version'];
  return {
    packageId: sdp.packageId ?? null,
    title: sdp.title ?? null,
    mapped: sdp.manifest !== undefined,
    version: typeof version === 'string' ? version : null,
    versionSource: sdp.versionSource ?? null,
    versionGuessed: sdp.versionGuessed === true,
    fileName: sdp.fileName ?? null,
    errors: sdp.errors,
    unsupportedRules: sdp.unsupportedRules,
    unmapped: sdp.unmapped,
  };
}

/** Indented lines for people: the version's origin, rules kept verbatim, what was not mapped. */
export function sdpReportLines(sdp: SdpImport, indent = '  '): string[] {
  const lines: string[] = [];
  if (sdp.versionSource !== undefined) {
    const version = sdp.manifest?.['version'];
    lines.push(`${indent}version ${String(version ?? '?')} from ${sdp.versionSource}`);
  }
  for (const e of sdp.errors) lines.push(`${indent}error: ${e}`);
  for (const u of sdp.unsupportedRules) {
    lines.push(
      `${indent}rule kept verbatim, evaluates to unknown: ${u.name} at ${u.path} (${u.reason})`,
    );
  }
  for (const u of sdp.unmapped)
    lines.push(`${indent}not mapped: ${u.name} at ${u.path}: ${u.reason}`);
  return lines;
}
