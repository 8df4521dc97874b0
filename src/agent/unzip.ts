import { mkdir, open } from 'node:fs/promises';
import path from 'node:path';
import yauzl from 'yauzl';
import { UpcatError } from '../errors.js';
import { checkRelativePath } from '../publish/safe-path.js';

export interface UnzipLimits {
  maxEntries: number;
  /** Most bytes written in all, whatever the central directory claims (zip bombs). */
  maxTotalBytes: number;
}

const S_IFMT = 0o170000;
const S_IFLNK = 0o120000;

/**
 * Extracts a package (a zip from `upcat package`) into `dir`, which must be empty and private.
 * Every name is checked as at publish (no `..`, absolute or drive paths), symbolic links are
 * refused, files are created exclusively (a name appearing twice fails), modes are 0700 for
 * entries marked executable and 0600 otherwise, and the bytes written are counted against a cap.
 */
export async function extractZip(file: string, dir: string, limits: UnzipLimits): Promise<number> {
  const zip = await yauzl.openPromise(file, {
    lazyEntries: true,
    autoClose: false,
    validateEntrySizes: true,
  });
  let total = 0;
  try {
    if (zip.entryCount > limits.maxEntries)
      throw new UpcatError(
        'too_large',
        `package has ${zip.entryCount} entries; the limit is ${limits.maxEntries}`,
      );
    for await (const entry of zip.eachEntry()) {
      const name = entry.fileName;
      const isDir = name.endsWith('/');
      const rel = checkRelativePath(isDir ? name.slice(0, -1) : name, `package entry "${name}"`);
      const mode = (entry.externalFileAttributes >>> 16) & 0xffff;
      if ((mode & S_IFMT) === S_IFLNK)
        throw new UpcatError(
          'integrity',
          `package entry "${name}": symbolic links are not allowed`,
        );
      const target = path.join(dir, ...rel.split('/'));
      if (isDir) {
        await mkdir(target, { recursive: true, mode: 0o700 });
        continue;
      }
      await mkdir(path.dirname(target), { recursive: true, mode: 0o700 });
      const handle = await open(target, 'wx', (mode & 0o111) !== 0 ? 0o700 : 0o600);
      try {
        const stream = await zip.openReadStreamPromise(entry);
        for await (const chunk of stream) {
          total += (chunk as Buffer).length;
          if (total > limits.maxTotalBytes)
            throw new UpcatError(
              'too_large',
              `package unpacks to more than ${limits.maxTotalBytes} bytes`,
            );
          await handle.write(chunk as Buffer);
        }
      } finally {
        await handle.close();
      }
    }
  } finally {
    zip.close();
  }
  return total;
}
