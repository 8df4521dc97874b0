/**
 * The manifest that `upcat package` stores inside a package as the zip entry `upcat-package.json`
 * (see package-manifest.ts): its type, the checks on its names, versions and paths, and its
 * canonical serializer. Kept apart from the parser, which uses zod, so that `upcat package`,
 * which only writes manifests, does not load zod (~90 ms of CPU at every start; issue 16).
 */
import { invalidInput } from '../errors.js';
import { checkRelativePath } from './safe-path.js';

/** The zip entry, at the package root, that holds the manifest. */
export const PACKAGE_MANIFEST_NAME = 'upcat-package.json';
export const PACKAGE_FORMAT = 'upcat-package/1';

/** Packages record only whether a file is executable; other permission bits are not kept. */
export const MODE_EXECUTABLE = 0o755;
export const MODE_REGULAR = 0o644;
export type PackageFileMode = typeof MODE_EXECUTABLE | typeof MODE_REGULAR;

export interface PackageFile {
  readonly path: string;
  readonly size: number;
  /** Lowercase hex SHA-256 of the file's bytes. */
  readonly sha256: string;
  readonly mode: PackageFileMode;
}

export interface PackageManifest {
  readonly format: typeof PACKAGE_FORMAT;
  readonly name: string;
  readonly version: string;
  readonly files: readonly PackageFile[];
}

const MAX_NAME_LENGTH = 128;
const CONTROL_CHAR = /[\p{Cc}\p{Cs}]/u;
// Up to four numeric parts, as WSUS file versions have; at most nine digits a part so that every
// part compares exactly as a JavaScript number.
const VERSION = /^\d{1,9}(?:\.\d{1,9}){0,3}$/;

/** Checks a package name: 1 to 128 characters, no control characters. */
export function checkPackageName(name: string, what = 'name'): string {
  if (name.length === 0 || name.length > MAX_NAME_LENGTH) {
    throw invalidInput(`${what}: must be 1 to ${MAX_NAME_LENGTH} characters long`, {
      field: what,
    });
  }
  if (CONTROL_CHAR.test(name)) {
    throw invalidInput(`${what}: control characters are not allowed (${JSON.stringify(name)})`, {
      field: what,
    });
  }
  return name;
}

/** Checks a package version: 1 to 4 dot-separated numbers, such as `5.0.1`. */
export function checkPackageVersion(version: string, what = 'version'): string {
  if (!VERSION.test(version)) {
    throw invalidInput(
      `${what}: ${JSON.stringify(version)} is not a version of 1 to 4 dot-separated numbers, such as 5.0.1`,
      { field: what },
    );
  }
  return version;
}

/**
 * Orders paths by their UTF-8 bytes, so the order is the same on every platform and locale
 * (JavaScript's own string order is by UTF-16 code unit, which differs above U+FFFF).
 */
export function comparePaths(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/**
 * The canonical text of a manifest: fixed key order, files sorted by path (UTF-8 byte order),
 * two-space indentation and a final newline, so the same package always gives the same bytes.
 */
export function serializePackageManifest(manifest: PackageManifest): string {
  checkManifest(manifest, PACKAGE_MANIFEST_NAME);
  const files = [...manifest.files]
    .sort((a, b) => comparePaths(a.path, b.path))
    .map((f) => ({ path: f.path, size: f.size, sha256: f.sha256, mode: f.mode }));
  const canonical = {
    format: manifest.format,
    name: manifest.name,
    version: manifest.version,
    files,
  };
  return `${JSON.stringify(canonical, null, 2)}\n`;
}

/** The checks a schema cannot express: names, versions, paths and how the paths fit together. */
export function checkManifest(manifest: PackageManifest, source: string): void {
  checkPackageName(manifest.name, `${source}: name`);
  checkPackageVersion(manifest.version, `${source}: version`);
  const paths = new Set<string>();
  manifest.files.forEach((file, i) => {
    const what = `${source}: files[${i}].path`;
    checkRelativePath(file.path, what);
    if (file.path === PACKAGE_MANIFEST_NAME) {
      throw invalidInput(`${what}: "${PACKAGE_MANIFEST_NAME}" is reserved for the manifest`);
    }
    if (paths.has(file.path)) {
      throw invalidInput(`${what}: ${JSON.stringify(file.path)} is listed twice`);
    }
    paths.add(file.path);
  });
  // An extractor cannot create both a file "a" and a file "a/b".
  for (const p of paths) {
    for (let i = p.indexOf('/'); i !== -1; i = p.indexOf('/', i + 1)) {
      const parent = p.slice(0, i);
      if (paths.has(parent)) {
        throw invalidInput(
          `${source}: files: ${JSON.stringify(parent)} is both a file and the directory of ${JSON.stringify(p)}`,
        );
      }
    }
  }
}
