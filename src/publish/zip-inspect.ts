/**
 * Looks inside an uploaded payload without unpacking it: is it a zip, are its entry names safe to
 * extract, and, when it is an upcat package, does its manifest match its entries. Only the
 * central directory and the `upcat-package.json` entry are read, so a large or hostile archive
 * costs little to refuse.
 */
import { open } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import yauzl from 'yauzl';
import { UpcatError, errnoCode, invalidInput, isUpcatError } from '../errors.js';
import {
  PACKAGE_MANIFEST_NAME,
  parsePackageManifest,
  type PackageManifest,
} from './package-manifest.js';
import { checkRelativePath } from './safe-path.js';

export interface ZipInspectLimits {
  /** Most entries (files and directories) an archive may have. */
  maxEntries: number;
  /** Largest `upcat-package.json` accepted, in bytes. */
  maxManifestBytes: number;
}

export interface ZipEntryInfo {
  path: string;
  /** Uncompressed size, as the central directory declares it. */
  size: number;
}

export interface ZipInspection {
  isZip: boolean;
  /** Present when the archive holds `upcat-package.json` and it matches the entries. */
  packageManifest?: PackageManifest;
  /** File entries in archive order; directory entries are checked but not listed. */
  entries: ZipEntryInfo[];
}

// A zip starts with a local file header, or, when empty, with the end of central directory record.
const LOCAL_FILE_HEADER = Buffer.from('PK\x03\x04', 'latin1');
const EMPTY_ARCHIVE = Buffer.from('PK\x05\x06', 'latin1');
const UNIX_PLATFORM = 3;
const S_IFMT = 0o170000;
const S_IFLNK = 0o120000;

/**
 * @throws UpcatError `invalid_input` for a damaged zip, an unsafe entry name or a manifest that
 *   disagrees with the entries; `too_large` when a limit is exceeded.
 */
export async function inspectZip(file: string, limits: ZipInspectLimits): Promise<ZipInspection> {
  if (!(await hasZipMagic(file))) return { isZip: false, entries: [] };
  const zip = await openZip(file);
  try {
    if (zip.entryCount > limits.maxEntries) {
      throw new UpcatError(
        'too_large',
        `zip archive has ${zip.entryCount} entries; the limit is ${limits.maxEntries}`,
        { details: { entries: zip.entryCount, limit: limits.maxEntries } },
      );
    }
    const { entries, manifestEntry } = await readCentralDirectory(zip);
    if (manifestEntry === undefined) return { isZip: true, entries };
    const text = await readManifest(zip, manifestEntry, limits.maxManifestBytes);
    const packageManifest = parsePackageManifest(text, `package ${PACKAGE_MANIFEST_NAME}`);
    checkManifestMatches(packageManifest, entries);
    return { isZip: true, packageManifest, entries };
  } catch (err) {
    throw asZipError(err);
  } finally {
    zip.close();
  }
}

async function hasZipMagic(file: string): Promise<boolean> {
  const handle = await open(file, 'r');
  try {
    const head = Buffer.alloc(4);
    const { bytesRead } = await handle.read(head, 0, 4, 0);
    return bytesRead === 4 && (head.equals(LOCAL_FILE_HEADER) || head.equals(EMPTY_ARCHIVE));
  } finally {
    await handle.close();
  }
}

async function openZip(file: string): Promise<yauzl.ZipFile> {
  try {
    // decodeStrings: false, because names are decoded and checked here (entryName), with errors
    // that name the entry, rather than by yauzl, which would also turn backslashes into slashes.
    return await yauzl.openPromise(file, {
      lazyEntries: true,
      autoClose: false,
      decodeStrings: false,
      validateEntrySizes: true,
    });
  } catch (err) {
    throw asZipError(err);
  }
}

async function readCentralDirectory(
  zip: yauzl.ZipFile,
): Promise<{ entries: ZipEntryInfo[]; manifestEntry: yauzl.Entry | undefined }> {
  const entries: ZipEntryInfo[] = [];
  const seen = new Set<string>();
  let manifestEntry: yauzl.Entry | undefined;
  for await (const entry of zip.eachEntry()) {
    const name = entryName(entry);
    const isDir = name.endsWith('/');
    const path = checkRelativePath(isDir ? name.slice(0, -1) : name, entryLabel(name));
    if (seen.has(name)) throw invalidInput(`${entryLabel(name)}: the name appears twice`);
    seen.add(name);
    if (isSymlink(entry)) {
      throw invalidInput(`${entryLabel(name)}: symbolic links are not allowed`, { entry: name });
    }
    if (isDir) continue;
    entries.push({ path, size: entry.uncompressedSize });
    if (path === PACKAGE_MANIFEST_NAME) manifestEntry = entry;
  }
  return { entries, manifestEntry };
}

/**
 * The entry's name, decoded as yauzl would. An Info-ZIP Unicode Path extra field that names a
 * different path than the header is refused: extractors disagree on which of the two they use.
 */
function entryName(entry: yauzl.Entry): string {
  const plain = yauzl.getFileNameLowLevel(entry.generalPurposeBitFlag, entry.fileNameRaw, [], true);
  const name = yauzl.getFileNameLowLevel(
    entry.generalPurposeBitFlag,
    entry.fileNameRaw,
    entry.extraFields,
    true,
  );
  if (name !== plain) {
    throw invalidInput(
      `${entryLabel(plain)}: its Unicode path extra field names another path (${JSON.stringify(name)})`,
      { entry: plain },
    );
  }
  return name;
}

function entryLabel(name: string): string {
  return `package entry ${JSON.stringify(name)}`;
}

function isSymlink(entry: yauzl.Entry): boolean {
  const unixMode = entry.externalFileAttributes >>> 16;
  return entry.versionMadeBy >> 8 === UNIX_PLATFORM && (unixMode & S_IFMT) === S_IFLNK;
}

async function readManifest(
  zip: yauzl.ZipFile,
  entry: yauzl.Entry,
  maxBytes: number,
): Promise<string> {
  const tooLarge = (): UpcatError =>
    new UpcatError(
      'too_large',
      `${entryLabel(PACKAGE_MANIFEST_NAME)}: larger than the limit of ${maxBytes} bytes`,
      { details: { entry: PACKAGE_MANIFEST_NAME, limit: maxBytes } },
    );
  if (entry.uncompressedSize > maxBytes) throw tooLarge();
  const stream: Readable = await zip.openReadStreamPromise(entry);
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    // The declared size is checked above and yauzl checks the real one against it, but the cap
    // is kept here as well, so that the limit never rests on the archive's own word.
    for await (const chunk of stream) {
      const buf = chunk as Buffer;
      size += buf.length;
      if (size > maxBytes) throw tooLarge();
      chunks.push(buf);
    }
  } finally {
    stream.destroy();
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks));
  } catch {
    throw invalidInput(`${entryLabel(PACKAGE_MANIFEST_NAME)}: not valid UTF-8`);
  }
}

/** Every listed file must be an entry of the same size, and every entry must be listed. */
function checkManifestMatches(manifest: PackageManifest, entries: readonly ZipEntryInfo[]): void {
  const sizes = new Map(entries.map((e) => [e.path, e.size]));
  for (const file of manifest.files) {
    const size = sizes.get(file.path);
    if (size === undefined) {
      throw invalidInput(
        `${entryLabel(file.path)}: listed in ${PACKAGE_MANIFEST_NAME} but missing from the archive`,
        { entry: file.path },
      );
    }
    if (size !== file.size) {
      throw invalidInput(
        `${entryLabel(file.path)}: ${size} bytes in the archive, ${file.size} in ${PACKAGE_MANIFEST_NAME}`,
        { entry: file.path },
      );
    }
  }
  const listed = new Set(manifest.files.map((f) => f.path));
  for (const entry of entries) {
    if (entry.path !== PACKAGE_MANIFEST_NAME && !listed.has(entry.path)) {
      throw invalidInput(
        `${entryLabel(entry.path)}: in the archive but not listed in ${PACKAGE_MANIFEST_NAME}`,
        { entry: entry.path },
      );
    }
  }
}

/** yauzl's own errors are about the archive's structure: the caller sent a damaged zip. */
function asZipError(err: unknown): unknown {
  if (isUpcatError(err) || !(err instanceof Error)) return err;
  // Errors from the filesystem (ENOENT, EACCES...) are not the archive's fault.
  if (errnoCode(err) !== undefined) return err;
  return new UpcatError('invalid_input', `zip archive is damaged: ${err.message}`, { cause: err });
}
