/**
 * The manifest that `upcat package` stores inside a package as the zip entry `upcat-package.json`:
 * the package's name and version and, for every file, its path, size, SHA-256 and mode. It lets a
 * publisher check an uploaded package without unpacking it, and an endpoint check each extracted
 * file. This module is pure: a type, a strict parser and a canonical serializer (the type, the
 * checks and the serializer live in package-format.ts, without zod).
 */
import { z } from 'zod';
import { invalidInput } from '../errors.js';
import {
  MODE_EXECUTABLE,
  MODE_REGULAR,
  PACKAGE_FORMAT,
  PACKAGE_MANIFEST_NAME,
  checkManifest,
  type PackageManifest,
} from './package-format.js';

// Its readers keep importing everything from here.
export * from './package-format.js';

const fileSchema = z.strictObject({
  path: z.string(),
  size: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hexadecimal digits'),
  mode: z.union([z.literal(MODE_EXECUTABLE), z.literal(MODE_REGULAR)], {
    error: `must be ${MODE_EXECUTABLE} (0o755) or ${MODE_REGULAR} (0o644)`,
  }),
});

const manifestSchema = z.strictObject({
  format: z.literal(PACKAGE_FORMAT, { error: `must be "${PACKAGE_FORMAT}"` }),
  name: z.string(),
  version: z.string(),
  files: z.array(fileSchema).min(1, 'a package holds at least one file'),
});

/**
 * Parses and validates manifest JSON. Unknown fields, unsafe paths, duplicate paths and a path
 * that is both a file and a directory are all errors.
 *
 * @param source names the manifest in error messages.
 * @throws UpcatError `invalid_input` naming the field and the problem.
 */
export function parsePackageManifest(
  text: string,
  source: string = PACKAGE_MANIFEST_NAME,
): PackageManifest {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw invalidInput(`${source}: not valid JSON: ${(err as Error).message}`);
  }
  const parsed = manifestSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue === undefined ? '' : formatField(issue.path);
    const message = issue?.message ?? 'invalid manifest';
    throw invalidInput(`${source}: ${field === '' ? '' : `${field}: `}${message}`, { field });
  }
  const manifest: PackageManifest = parsed.data;
  checkManifest(manifest, source);
  return manifest;
}

function formatField(path: readonly PropertyKey[]): string {
  return path
    .map((key, i) => (typeof key === 'number' ? `[${key}]` : `${i === 0 ? '' : '.'}${String(key)}`))
    .join('');
}
