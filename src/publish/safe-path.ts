/**
 * Validation of the relative paths that name files inside a package: zip entry names, manifest
 * file paths and a handler's `program`. Endpoints extract packages and run programs by these
 * names, so a path that could climb out of the install directory, or mean different files on
 * Windows and POSIX, is refused here, at the edge (DESIGN.md section 7).
 */
import { invalidInput } from '../errors.js';

/** Longest accepted path, in UTF-8 bytes; well under what zip and common filesystems allow. */
export const MAX_PATH_BYTES = 1024;
/** Longest accepted segment, in UTF-8 bytes: ext4, NTFS and APFS all stop at 255. */
export const MAX_SEGMENT_BYTES = 255;

// \p{Cc} covers NUL, the other C0 controls, DEL and the C1 controls; \p{Cs} catches lone
// surrogates, which have no UTF-8 form and so could not be written into a zip or a filesystem.
const FORBIDDEN_CHAR = /[\p{Cc}\p{Cs}]/u;
const DRIVE_LETTER = /^[A-Za-z]:/;
// Windows drops trailing dots and spaces from a name, so it would read "..." or ".. " as "..".
const ONLY_DOTS_AND_SPACES = /^[. ]+$/;

/**
 * Checks `p`, a path relative to a package root, and returns it in normal form. Every spelling
 * that could be normalized (backslashes, `.` segments, doubled slashes) is refused instead, so a
 * path has exactly one accepted spelling and the returned value equals `p`.
 *
 * @param what names the field or entry in error messages, e.g. `handler.program`.
 * @throws UpcatError `invalid_input` naming `what` and the problem.
 */
export function checkRelativePath(p: string, what: string): string {
  const fail = (problem: string): never => {
    throw invalidInput(`${what}: ${problem}`, { field: what, path: p });
  };
  const shown = JSON.stringify(p);

  if (p.length === 0) fail('path is empty');
  if (FORBIDDEN_CHAR.test(p)) fail(`control character in ${shown} is not allowed`);
  if (p.includes('\\')) fail(`backslash in ${shown} is not allowed; use forward slashes`);
  if (p.startsWith('/')) fail(`absolute path (${shown}) is not allowed`);
  if (DRIVE_LETTER.test(p)) fail(`drive letter in ${shown} is not allowed`);
  if (Buffer.byteLength(p, 'utf8') > MAX_PATH_BYTES) {
    fail(`path is longer than ${MAX_PATH_BYTES} bytes`);
  }

  for (const segment of p.split('/')) {
    if (segment === '..') fail(`path traversal (${shown}) is not allowed`);
    if (segment === '.') fail(`"." segment in ${shown} is not allowed`);
    if (segment === '') fail(`empty segment in ${shown} is not allowed`);
    if (ONLY_DOTS_AND_SPACES.test(segment)) {
      fail(`segment ${JSON.stringify(segment)} in ${shown} is only dots and spaces; not allowed`);
    }
    if (Buffer.byteLength(segment, 'utf8') > MAX_SEGMENT_BYTES) {
      fail(`segment ${JSON.stringify(segment)} is longer than ${MAX_SEGMENT_BYTES} bytes`);
    }
  }
  return p;
}
