import { open } from 'node:fs/promises';
import { UpcatError, errnoCode, invalidInput } from '../errors.js';

/** Reads a manifest file with a size cap, and parses it as JSON; errors name the file. */
export async function readJsonFile(file: string, maxBytes: number): Promise<unknown> {
  let text: string;
  try {
    const fh = await open(file, 'r');
    try {
      const { size } = await fh.stat();
      if (size > maxBytes) {
        throw new UpcatError(
          'too_large',
          `manifest ${file} is larger than the limit of ${maxBytes} bytes`,
        );
      }
      text = await fh.readFile('utf8');
    } finally {
      await fh.close();
    }
  } catch (err) {
    if (err instanceof UpcatError) throw err;
    const code = errnoCode(err);
    if (code === 'ENOENT') throw invalidInput(`manifest ${file} does not exist`);
    if (code === 'EISDIR') throw invalidInput(`manifest ${file} is a directory`);
    throw invalidInput(`cannot read manifest ${file}: ${(err as Error).message}`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw invalidInput(`manifest ${file} is not valid JSON: ${(err as Error).message}`);
  }
}
