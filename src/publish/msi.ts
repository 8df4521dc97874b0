/**
 * Reads the Property table of a Windows Installer database (.msi). An MSI is an OLE compound
 * file (read with the `cfb` package) whose tables are streams:
 * - stream names are compressed: characters 0x3800-0x47FF pack two name characters of the
 *   64-symbol alphabet [0-9A-Za-z._], 0x4800-0x483F pack one, and table streams start with
 *   0x4840 (msitools libmsi/table.c, decode_streamname);
 * - `_StringPool` holds a 4-byte header (code page, bit 31 = 3-byte string references), then
 *   one (length, reference count) pair of uint16 per string id from 1; a string over 64 KiB
 *   has a zero-length entry followed by one holding its length (low word, high word);
 *   `_StringData` holds the strings back to back, in that code page (libmsi/string.c);
 * - a table stream stores its rows column by column; a string cell is a string id.
 * Property is two string columns (Property, Value), so nothing else is needed here.
 */
import { open } from 'node:fs/promises';
import CFB from 'cfb';
import { invalidInput, UpcatError } from '../errors.js';

export interface MsiMetadata {
  productCode: string;
  productVersion: string;
  productName?: string;
  manufacturer?: string;
  /** Every row of the Property table. */
  properties: Record<string, string>;
}

/** The whole file is read: cfb needs it in memory, so very large files are refused. */
export const MAX_MSI_BYTES = 512 * 1024 * 1024;

/** Reads ProductCode, ProductVersion, ProductName and Manufacturer; errors name the file. */
export async function readMsiMetadata(file: string, label = file): Promise<MsiMetadata> {
  const fh = await open(file, 'r');
  let bytes: Buffer;
  try {
    const { size } = await fh.stat();
    if (size > MAX_MSI_BYTES) {
      throw new UpcatError(
        'too_large',
        `${label}: an MSI over ${MAX_MSI_BYTES} bytes cannot be inspected; give isInstalled and isInstallable in the manifest`,
      );
    }
    bytes = await fh.readFile();
  } finally {
    await fh.close();
  }
  return msiMetadataFromBytes(bytes, label);
}

export function msiMetadataFromBytes(bytes: Uint8Array, label = 'msi'): MsiMetadata {
  const properties = readPropertyTable(bytes, label);
  const productCode = properties['ProductCode'];
  const productVersion = properties['ProductVersion'];
  if (productCode === undefined || !/^\{[0-9A-Fa-f-]{36}\}$/.test(productCode)) {
    throw invalidInput(`${label}: Property table has no valid ProductCode`, { field: label });
  }
  if (productVersion === undefined || productVersion === '') {
    throw invalidInput(`${label}: Property table has no ProductVersion`, { field: label });
  }
  const metadata: MsiMetadata = {
    productCode: productCode.toUpperCase(),
    productVersion,
    properties,
  };
  if (properties['ProductName'] !== undefined) metadata.productName = properties['ProductName'];
  if (properties['Manufacturer'] !== undefined) metadata.manufacturer = properties['Manufacturer'];
  return metadata;
}

export function readPropertyTable(bytes: Uint8Array, label = 'msi'): Record<string, string> {
  const streams = tableStreams(bytes, label);
  const need = (name: string): Buffer => {
    const stream = streams.get(name);
    if (stream === undefined) {
      throw invalidInput(`${label}: not an MSI database (no ${name} stream)`, { field: label });
    }
    return stream;
  };
  const pool = readStringPool(need('_StringPool'), need('_StringData'), label);
  const table = need('Property');
  const rowBytes = 2 * pool.refBytes;
  if (table.length % rowBytes !== 0) {
    throw invalidInput(`${label}: Property table stream has a partial row`, { field: label });
  }
  const rows = table.length / rowBytes;
  const properties: Record<string, string> = Object.create(null) as Record<string, string>;
  for (let row = 0; row < rows; row++) {
    const name = pool.get(readRef(table, row * pool.refBytes, pool.refBytes));
    const value = pool.get(readRef(table, (rows + row) * pool.refBytes, pool.refBytes));
    if (name !== '') properties[name] = value;
  }
  return { ...properties };
}

/** Table streams by decoded name ("_StringPool", "Property"...), at the root storage. */
function tableStreams(bytes: Uint8Array, label: string): Map<string, Buffer> {
  let container: CFB.CFB$Container;
  try {
    container = CFB.parse(bytes, { type: 'buffer' });
  } catch (err) {
    throw invalidInput(`${label}: not an MSI (compound file) database: ${(err as Error).message}`, {
      field: label,
    });
  }
  const streams = new Map<string, Buffer>();
  container.FileIndex.forEach((entry, i) => {
    const depth = (container.FullPaths[i] ?? '').split('/').filter((p) => p !== '').length;
    if (entry.type !== 2 || depth !== 2) return;
    const name = decodeStreamName(entry.name);
    if (name.startsWith('\u4840')) {
      streams.set(name.slice(1), Buffer.from(entry.content ?? []));
    }
  });
  return streams;
}

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz._';

/** libmsi decode_streamname: undoes the two-characters-per-code-unit packing. */
export function decodeStreamName(encoded: string): string {
  let out = '';
  for (const ch of encoded) {
    const code = ch.codePointAt(0) ?? 0;
    if (code >= 0x3800 && code < 0x4800) {
      const packed = code - 0x3800;
      out += (ALPHABET[packed & 0x3f] ?? '_') + (ALPHABET[(packed >> 6) & 0x3f] ?? '_');
    } else if (code >= 0x4800 && code < 0x4840) {
      out += ALPHABET[code - 0x4800] ?? '_';
    } else {
      out += ch;
    }
  }
  return out;
}

interface StringPool {
  refBytes: 2 | 3;
  get(id: number): string;
}

function readStringPool(pool: Buffer, data: Buffer, label: string): StringPool {
  if (pool.length < 4 || pool.length % 4 !== 0) {
    throw invalidInput(`${label}: _StringPool stream is malformed`, { field: label });
  }
  const header = pool.readUInt32LE(0);
  const refBytes: 2 | 3 = (header & 0x80000000) !== 0 ? 3 : 2;
  const decoder = decoderFor(header & 0x7fffffff);
  const strings: string[] = [''];
  let offset = 0;
  for (let at = 4; at < pool.length; at += 4) {
    let length = pool.readUInt16LE(at);
    const refs = pool.readUInt16LE(at + 2);
    if (length === 0 && refs !== 0 && at + 8 <= pool.length) {
      // A string over 64 KiB: the next entry holds its length, low word then high word.
      length = pool.readUInt16LE(at + 4) + (pool.readUInt16LE(at + 6) << 16);
      at += 4;
    }
    if (offset + length > data.length) {
      throw invalidInput(`${label}: _StringData is shorter than _StringPool says`, {
        field: label,
      });
    }
    strings.push(decoder.decode(data.subarray(offset, offset + length)));
    offset += length;
  }
  return {
    refBytes,
    get(id: number): string {
      const value = strings[id];
      if (value === undefined) {
        throw invalidInput(`${label}: string id ${id} is outside the string pool`, {
          field: label,
        });
      }
      return value;
    },
  };
}

function readRef(table: Buffer, at: number, refBytes: 2 | 3): number {
  const low = table.readUInt16LE(at);
  return refBytes === 2 ? low : low + ((table[at + 2] ?? 0) << 16);
}

/** Code page 0 is "neutral": the strings are ASCII in practice; 65001 is UTF-8. */
function decoderFor(codePage: number): TextDecoder {
  if (codePage === 65001) return new TextDecoder('utf-8');
  try {
    return new TextDecoder(codePage === 0 ? 'windows-1252' : `windows-${codePage}`);
  } catch {
    return new TextDecoder('windows-1252');
  }
}
