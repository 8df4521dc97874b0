import { open } from 'node:fs/promises';
import { UpcatError, errnoCode, invalidInput } from '../errors.js';

// Apart from read-manifest.ts, which loads the SDP importer (node-forge, yauzl): `upcat rules
// eval` reads its rule file with this and needs none of that.

/** Reads a text file with a size cap; `what` names it in errors ("manifest", "rules"...). */
export async function readCapped(file: string, maxBytes: number, what: string): Promise<string> {
  try {
    const fh = await open(file, 'r');
    try {
      const { size } = await fh.stat();
      if (size > maxBytes) {
        throw new UpcatError(
          'too_large',
          `${what} ${file} is larger than the limit of ${maxBytes} bytes`,
        );
      }
      return await fh.readFile('utf8');
    } finally {
      await fh.close();
    }
  } catch (err) {
    if (err instanceof UpcatError) throw err;
    const code = errnoCode(err);
    if (code === 'ENOENT') throw invalidInput(`${what} ${file} does not exist`);
    if (code === 'EISDIR') throw invalidInput(`${what} ${file} is a directory`);
    throw invalidInput(`cannot read ${what} ${file}: ${(err as Error).message}`);
  }
}
