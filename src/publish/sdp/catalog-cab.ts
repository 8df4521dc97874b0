/**
 * A vendor catalog shipped as a signed cabinet (`HpCatalogForSms.latest.cab` holds
 * `HpCatalogForSms.xml`; interop.md §2 "How catalogs ship"): the Authenticode signature is
 * checked against the certificates the operator trusts (`--trust CERT`) before a byte of the
 * catalog is read, then its one XML entry is streamed out of the cabinet (MSZIP, checksums
 * verified block by block by src/windows/cab).
 */
import { open, readFile } from 'node:fs/promises';
import { invalidInput, isUpcatError, UpcatError } from '../../errors.js';
import { verifyCab, type VerifiedCab } from '../../windows/authenticode/index.js';
import { openCabEntry, readCab } from '../../windows/cab/index.js';
import type { CatalogSource } from './catalog-import.js';

/** True when the file starts with the cabinet signature "MSCF" (MS-CAB 2.1 CFHEADER). */
export async function isCabinet(file: string): Promise<boolean> {
  // Anything unreadable is left to the XML path, which names the problem in one line.
  const fh = await open(file, 'r').catch(() => undefined);
  if (fh === undefined) return false;
  try {
    const head = Buffer.alloc(4);
    const { bytesRead } = await fh.read(head, 0, 4, 0);
    return bytesRead === 4 && head.toString('latin1') === 'MSCF';
  } finally {
    await fh.close();
  }
}

export interface CabCatalog {
  signer: VerifiedCab;
  entry: string;
  source: CatalogSource;
}

/** Verifies the cabinet against the trusted certificate files and opens its catalog entry. */
export async function openCatalogCab(
  file: string,
  trustFiles: readonly string[],
): Promise<CabCatalog> {
  if (trustFiles.length === 0) {
    throw invalidInput(
      `catalog ${file} is a cabinet: give --trust CERT (the vendor's signing certificate)`,
    );
  }
  const trusted = await Promise.all(trustFiles.map(readCertificate));
  let signer: VerifiedCab;
  try {
    signer = await verifyCab(file, trusted);
  } catch (err) {
    if (!isUpcatError(err)) throw err;
    throw new UpcatError(err.code, `catalog ${file}: ${err.message}`, { cause: err });
  }
  const directory = await readCab(file);
  const xml = directory.files.filter((f) => /\.xml$/i.test(f.name));
  const only = xml[0];
  if (only === undefined || xml.length > 1) {
    throw invalidInput(
      `catalog ${file}: expected one .xml entry in the cabinet, found ${xml.length === 0 ? 'none' : xml.map((f) => f.name).join(', ')}`,
    );
  }
  const source: CatalogSource = () => entryText(directory, only.name);
  return { signer, entry: only.name, source };
}

async function* entryText(
  directory: Awaited<ReturnType<typeof readCab>>,
  name: string,
): AsyncGenerator<string> {
  const stream = await openCabEntry(directory, name);
  stream.setEncoding('utf8');
  for await (const chunk of stream) yield chunk as string;
}

/** A PEM or DER certificate file. */
async function readCertificate(file: string): Promise<string | Buffer> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (err) {
    throw invalidInput(`--trust ${file}: cannot read it (${(err as Error).message})`);
  }
  const text = bytes.toString('latin1');
  return text.includes('-----BEGIN CERTIFICATE-----') ? text : bytes;
}
