import path from 'node:path';
import { UpcatError, invalidInput } from '../errors.js';
import { readCapped } from './read-capped.js';
import { importSdp, looksLikeSdp, type SdpImport } from '../publish/sdp/index.js';

/** Reads a manifest file with a size cap, and parses it as JSON; errors name the file. */
export async function readJsonFile(file: string, maxBytes: number): Promise<unknown> {
  const text = await readCapped(file, maxBytes, 'manifest');
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw invalidInput(`manifest ${file} is not valid JSON: ${(err as Error).message}`);
  }
}

export interface ManifestDocument {
  manifest: unknown;
  /** Set when the manifest was a SoftwareDistributionPackage: what mapped and what did not. */
  sdp?: SdpImport;
}

/** SDP documents are verbose XML: they get at least this much room whatever the JSON limit. */
const MIN_SDP_BYTES = 16 * 1024 * 1024;

/**
 * Reads `--manifest`: JSON (DESIGN.md §8), or an SDP (issue 4, item 5), told apart by the
 * .sdp extension or by an SDP root element. An SDP that cannot be mapped is an error that
 * lists every reason.
 */
export async function readManifestFile(file: string, maxBytes: number): Promise<ManifestDocument> {
  const text = await readCapped(file, Math.max(maxBytes, MIN_SDP_BYTES), 'manifest');
  const isSdp = path.extname(file).toLowerCase() === '.sdp' || looksLikeSdp(text);
  if (!isSdp) {
    if (Buffer.byteLength(text) > maxBytes) {
      throw new UpcatError(
        'too_large',
        `manifest ${file} is larger than the limit of ${maxBytes} bytes`,
      );
    }
    try {
      return { manifest: JSON.parse(text) as unknown };
    } catch (err) {
      throw invalidInput(`manifest ${file} is not valid JSON: ${(err as Error).message}`);
    }
  }
  const sdp = importSdp(text.replace(/^\uFEFF/, ''), `manifest ${file}`);
  if (sdp.manifest === undefined) {
    throw invalidInput(`manifest ${file}: SDP cannot be mapped: ${sdp.errors.join('; ')}`, {
      errors: sdp.errors,
    });
  }
  return { manifest: sdp.manifest, sdp };
}
