/**
 * `upcat package`: turns a client build directory into a zip package whose first entry is the
 * manifest `upcat-package.json` (package-manifest.ts), followed by every file in path order.
 *
 * The output is deterministic: the same files with the same contents and executable bits give the
 * same bytes, whatever the mtimes, owners, creation order, umask or time zone. That makes a
 * rebuilt package hash-identical to the published one, so re-publishing it is a no-op rather than
 * a conflict. What varies between machines is pinned here:
 *   - entry dates are fixed, and written from their UTC fields; there are no extended-timestamp
 *     or other extra fields, and ZIP64 only where sizes or offsets need it;
 *   - modes are 0o755 or 0o644 from the executable bit, never the file's own permission bits;
 *   - entries are sorted by UTF-8 bytes, and directories are implied by paths, never stored;
 *   - the deflate level is fixed (6).
 * The zip is written by zip-writer.ts, byte for byte as archiver (zip-stream) wrote it before
 * with the same choices, without the ~250 ms of CPU loading archiver cost every `upcat package`
 * (issue 16).
 */
import { createHash, randomBytes } from 'node:crypto';
import { constants as fsConstants, type Stats } from 'node:fs';
import { lstat, mkdir, open, readdir, realpath, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { errnoCode, invalidInput } from '../errors.js';
import {
  MODE_EXECUTABLE,
  MODE_REGULAR,
  PACKAGE_FORMAT,
  PACKAGE_MANIFEST_NAME,
  checkPackageName,
  checkPackageVersion,
  comparePaths,
  serializePackageManifest,
  type PackageFile,
  type PackageFileMode,
} from './package-format.js';
import { checkRelativePath } from './safe-path.js';
import { zipBytes, type ZipEntry } from './zip-writer.js';

export interface BuildPackageOptions {
  /** The client build directory to package. */
  dir: string;
  name: string;
  version: string;
  /** Where to write the package; its parent directory is created when missing. */
  out: string;
  /**
   * Called as file bytes are read. Every file is read twice, once to hash it for the manifest
   * and once to archive it, and both passes count, so `totalBytes` is twice the content size.
   */
  onProgress?: (doneBytes: number, totalBytes: number) => void;
}

export interface BuiltPackage {
  /** Absolute path of the written package. */
  path: string;
  /** Lowercase hex SHA-256 of the package file. */
  sha256: string;
  size: number;
  /** Files in the package, not counting the manifest. */
  fileCount: number;
}

/** 1980-01-01T00:00:00Z, the earliest DOS date, written from its UTC fields, so in any TZ. */
const ENTRY_DATE = new Date(Date.UTC(1980, 0, 1, 0, 0, 0));
/** A read's size, as a read stream's (64 KiB). */
const READ_CHUNK = 64 * 1024;
// Refuse to follow a symlink swapped in after the walk; 0 where the platform has no such flag.
const O_NOFOLLOW = fsConstants.O_NOFOLLOW ?? 0;

interface SourceFile extends PackageFile {
  /** Where the file is on disk. */
  readonly abs: string;
}

export async function buildPackage(opts: BuildPackageOptions): Promise<BuiltPackage> {
  const name = checkPackageName(opts.name);
  const version = checkPackageVersion(opts.version);
  const dir = await checkSourceDir(opts.dir);
  const out = path.resolve(opts.out);
  await refuseOutputInside(dir, out);

  const found = await walk(dir);
  if (found.length === 0) {
    throw invalidInput(`dir: ${dir} holds no files; a package needs at least one`, { path: dir });
  }
  const totalBytes = 2 * found.reduce((sum, f) => sum + f.size, 0);
  let doneBytes = 0;
  const progress = (n: number): void => {
    doneBytes += n;
    opts.onProgress?.(doneBytes, totalBytes);
  };

  const files: SourceFile[] = [];
  for (const f of found) files.push({ ...f, sha256: await hashFile(f, progress) });
  const manifest = serializePackageManifest({ format: PACKAGE_FORMAT, name, version, files });

  await mkdir(path.dirname(out), { recursive: true });
  // Again with the real paths, now that the parent exists, in case a symlink leads back inside.
  await refuseOutputInside(dir, path.join(await realpath(path.dirname(out)), path.basename(out)));
  if ((await stat(out).catch(() => undefined))?.isDirectory() === true) {
    throw invalidInput(`out: ${out} is a directory`, { path: out });
  }
  const written = await writeAtomically(out, (tmp) => writeZip(tmp, manifest, files, progress));
  return { path: out, ...written, fileCount: files.length };
}

async function checkSourceDir(dir: string): Promise<string> {
  const abs = path.resolve(dir);
  let st: Stats;
  try {
    st = await stat(abs);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') throw invalidInput(`dir: ${abs} does not exist`);
    throw err;
  }
  if (!st.isDirectory()) throw invalidInput(`dir: ${abs} is not a directory`, { path: abs });
  return abs;
}

/** Writing the package into the directory being packaged would make it package itself. */
async function refuseOutputInside(dir: string, out: string): Promise<void> {
  for (const base of new Set([dir, await realpath(dir)])) {
    const rel = path.relative(base, out);
    const outside = rel === '..' || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel);
    if (!outside) {
      throw invalidInput(`out: ${out} is inside the directory being packaged (${dir})`, {
        path: out,
      });
    }
  }
}

type FoundFile = Omit<SourceFile, 'sha256'>;

/** Lists every regular file under `root`, sorted by path; anything else is an error. */
async function walk(root: string): Promise<FoundFile[]> {
  const found: FoundFile[] = [];
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  const dirs: string[] = [''];
  for (let rel = dirs.pop(); rel !== undefined; rel = dirs.pop()) {
    const absDir = rel === '' ? root : path.join(root, rel);
    for (const raw of await readdir(absDir, { encoding: 'buffer' })) {
      let name: string;
      try {
        name = utf8.decode(raw);
      } catch {
        throw invalidInput(`${absDir}: file name ${JSON.stringify(raw.toString())} is not UTF-8`);
      }
      const relPath = checkRelativePath(rel === '' ? name : `${rel}/${name}`, `file in ${root}`);
      const abs = path.join(absDir, name);
      if (relPath === PACKAGE_MANIFEST_NAME) {
        throw invalidInput(`${abs}: the name is reserved for the package manifest`, { path: abs });
      }
      const st = await lstat(abs);
      if (st.isDirectory()) {
        dirs.push(relPath);
      } else if (st.isFile()) {
        found.push({ path: relPath, abs, size: st.size, mode: modeOf(st) });
      } else {
        throw invalidInput(`${abs}: ${kindOf(st)} cannot be packaged; only regular files can`, {
          path: abs,
        });
      }
    }
  }
  return found.sort((a, b) => comparePaths(a.path, b.path));
}

function modeOf(st: Stats): PackageFileMode {
  return (st.mode & 0o111) !== 0 ? MODE_EXECUTABLE : MODE_REGULAR;
}

function kindOf(st: Stats): string {
  if (st.isSymbolicLink()) return 'a symbolic link';
  if (st.isSocket()) return 'a socket';
  if (st.isFIFO()) return 'a named pipe';
  if (st.isBlockDevice() || st.isCharacterDevice()) return 'a device';
  return 'a special file';
}

/** Streams a file's bytes, checking on the way that it is still the file the walk found. */
async function* readFile(file: FoundFile, progress: (n: number) => void): AsyncGenerator<Buffer> {
  const handle = await open(file.abs, fsConstants.O_RDONLY | O_NOFOLLOW).catch((err: unknown) => {
    if (errnoCode(err) === 'ELOOP') throw changed(file);
    throw err;
  });
  let size = 0;
  try {
    if (!(await handle.stat()).isFile()) throw changed(file);
    // Read in chunks with the handle itself: a read stream's machinery costs a few ms of every
    // `upcat package` to compile, more than reading a small build takes (issue 16).
    for (;;) {
      // One byte more than the walk found, so that a file that has grown is seen.
      const want = Math.min(READ_CHUNK, file.size - size + 1);
      const { bytesRead, buffer } = await handle.read(Buffer.allocUnsafe(want), 0, want, null);
      if (bytesRead === 0) break;
      size += bytesRead;
      if (size > file.size) throw changed(file);
      progress(bytesRead);
      yield bytesRead === want ? buffer : buffer.subarray(0, bytesRead);
    }
  } finally {
    await handle.close();
  }
  if (size !== file.size) throw changed(file);
}

function changed(file: FoundFile): Error {
  return invalidInput(`${file.abs}: the file changed while it was being packaged`, {
    path: file.abs,
  });
}

async function hashFile(file: FoundFile, progress: (n: number) => void): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of readFile(file, progress)) hash.update(chunk);
  return hash.digest('hex');
}

/** The second pass: the bytes archived must be the bytes hashed for the manifest. */
async function* readVerified(
  file: SourceFile,
  progress: (n: number) => void,
): AsyncGenerator<Buffer> {
  const hash = createHash('sha256');
  for await (const chunk of readFile(file, progress)) {
    hash.update(chunk);
    yield chunk;
  }
  if (hash.digest('hex') !== file.sha256) throw changed(file);
}

/** Runs `write` on a temporary file beside `out`, then renames it: a failed run leaves nothing. */
async function writeAtomically<T>(out: string, write: (tmp: string) => Promise<T>): Promise<T> {
  const suffix = `${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  const tmp = path.join(path.dirname(out), `.${path.basename(out)}.${suffix}`);
  try {
    const result = await write(tmp);
    await rename(tmp, out);
    return result;
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

async function writeZip(
  tmp: string,
  manifest: string,
  files: readonly SourceFile[],
  progress: (n: number) => void,
): Promise<{ sha256: string; size: number }> {
  const digest = createHash('sha256');
  let size = 0;
  // Written with the handle, not a write stream and a pipeline: their first use costs more CPU
  // than a small package's bytes (issue 16). One write at a time, as a stream's back-pressure had.
  const sink = await open(tmp, 'wx');
  try {
    for await (const chunk of zipBytes(entries(manifest, files, progress), ENTRY_DATE)) {
      digest.update(chunk);
      size += chunk.length;
      // A write may take less than it was given (a regular file seldom, but it may).
      for (let at = 0; at < chunk.length;) {
        const { bytesWritten } = await sink.write(chunk, at, chunk.length - at);
        if (bytesWritten === 0) throw new Error(`${tmp}: the file system took no bytes`);
        at += bytesWritten;
      }
    }
    // Before close, so the rename never publishes a file whose bytes are not on disk.
    await sink.sync();
  } finally {
    await sink.close();
  }
  return { sha256: digest.digest('hex'), size };
}

/** The manifest, then each file, read (once the writer gets to it) and checked again. */
function* entries(
  manifest: string,
  files: readonly SourceFile[],
  progress: (n: number) => void,
): Generator<ZipEntry> {
  yield { name: PACKAGE_MANIFEST_NAME, mode: MODE_REGULAR, source: Buffer.from(manifest, 'utf8') };
  for (const file of files) {
    yield { name: file.path, mode: file.mode, source: readVerified(file, progress) };
  }
}
