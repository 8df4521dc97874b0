/**
 * File names inside a cabinet: '\\'-separated relative paths (MS-CAB 2.3 szName). One rule for
 * writing and for extracting, so that upcat never writes a name it would refuse to extract:
 * '/' and '\\' both separate; no empty, '.' or '..' segment (so nothing absolute and nothing
 * climbing out of the destination); no ':' (drive letters, NTFS streams) and no control characters.
 */
import { cabError } from './errors.js';
import { MAX_NAME_BYTES } from './file-entry.js';

/** The name's segments, or a 'bad_name' error saying what is wrong with it. */
export function nameSegments(name: string): string[] {
  const segments = name.split(/[\\/]/);
  for (const segment of segments) {
    if (segment === '' || segment === '.' || segment === '..') {
      throw cabError(
        'bad_name',
        `file name ${JSON.stringify(name)} is absolute or has an empty, "." or ".." part`,
        {
          name,
        },
      );
    }
    // eslint-disable-next-line no-control-regex
    if (/[\u0000-\u001f:]/.test(segment)) {
      throw cabError(
        'bad_name',
        `file name ${JSON.stringify(name)} has a control character or ':'`,
        { name },
      );
    }
  }
  return segments;
}

/** The stored form of a name: '\\' separators, UTF-8, and whether NAME_IS_UTF must be set. */
export function encodeName(name: string): { bytes: Buffer; utf8: boolean } {
  const stored = nameSegments(name).join('\\');
  const bytes = Buffer.from(stored, 'utf8');
  if (bytes.length + 1 > MAX_NAME_BYTES) {
    throw cabError(
      'bad_name',
      `file name ${JSON.stringify(name)} is over ${MAX_NAME_BYTES - 1} UTF-8 bytes`,
      { name },
    );
  }
  // eslint-disable-next-line no-control-regex
  return { bytes, utf8: /[^\u0000-\u007f]/.test(stored) };
}

/** Names compare with either separator. */
export function sameName(a: string, b: string): boolean {
  return a.replace(/\//g, '\\') === b.replace(/\//g, '\\');
}
