import { TargetFile } from '@tufjs/models';
import { UpcatError } from '../errors.js';
import type { JsonValue } from '../catalog/canonical-json.js';

/**
 * A target as the caller names it (TUF spec §4.5, "TARGETPATH" and "TARGETS"): the update
 * metadata documents and the payloads, with update details in `custom`.
 */
export interface TargetInput {
  /** URL path relative to the targets base, e.g. `updates/<UpdateID>/<rev>.xml`. */
  name: string;
  length: number;
  hashes: { sha256: string } & Record<string, string>;
  custom?: { [key: string]: JsonValue };
}

/** What changes between two catalog versions: targets added (or replaced) and names removed. */
export interface TargetChanges {
  add?: readonly TargetInput[];
  remove?: readonly string[];
}

const SEGMENT = /^[A-Za-z0-9_~@+=-][A-Za-z0-9._~@+=-]*$/;
const SHA256 = /^[0-9a-f]{64}$/;
const HASH = /^[0-9a-f]+$/;

/**
 * Target names become URL paths and, hash-prefixed, file names on mirrors: plain segments only
 * (no `..`, no leading dot, no percent-encoding), so that every client and CDN reads them alike.
 */
export function checkTargetName(name: string): void {
  const segments = name.split('/');
  if (name.length === 0 || name.length > 512 || !segments.every((s) => SEGMENT.test(s))) {
    throw new UpcatError('invalid_input', `target name "${name}" is not a plain relative path`, {
      details: { field: 'name' },
    });
  }
}

export function toTargetFile(input: TargetInput): TargetFile {
  checkTargetName(input.name);
  if (!Number.isSafeInteger(input.length) || input.length < 0) {
    throw new UpcatError('invalid_input', `target "${input.name}": length must be a whole number`);
  }
  if (!SHA256.test(input.hashes.sha256)) {
    throw new UpcatError('invalid_input', `target "${input.name}": sha256 must be 64 hex digits`);
  }
  for (const [alg, digest] of Object.entries(input.hashes)) {
    if (!HASH.test(digest)) {
      throw new UpcatError('invalid_input', `target "${input.name}": ${alg} is not hex`);
    }
  }
  return new TargetFile({
    path: input.name,
    length: input.length,
    hashes: { ...input.hashes },
    unrecognizedFields: input.custom === undefined ? {} : { custom: input.custom },
  });
}
