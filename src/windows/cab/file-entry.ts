/**
 * CFFILE, MS-CAB 2.3 (16 bytes plus the NUL-terminated name):
 *
 * | off | size | field           | notes                                                       |
 * |-----|------|-----------------|-------------------------------------------------------------|
 * | 0   | 4    | cbFile          | uncompressed size                                           |
 * | 4   | 4    | uoffFolderStart | offset in the folder's uncompressed stream                  |
 * | 8   | 2    | iFolder         | 0xFFFD/0xFFFE/0xFFFF: continued across cabinets (refused)   |
 * | 10  | 2    | date            | ((year-1980) << 9) | (month << 5) | day                     |
 * | 12  | 2    | time            | (hour << 11) | (minute << 5) | (seconds / 2)                |
 * | 14  | 2    | attribs         | 0x01 RDONLY 0x02 HIDDEN 0x04 SYSTEM 0x20 ARCH 0x40 EXEC 0x80 NAME_IS_UTF |
 * | 16  | n   | szName          | NUL-terminated; at most 256 bytes with the NUL (CB_MAX_FILENAME) |
 *
 * Dates are written and read as UTC so that output does not depend on the machine's zone.
 */
import { cabError } from './errors.js';

export const CFFILE_FIXED_BYTES = 16;
/** CB_MAX_FILENAME: the name with its NUL. */
export const MAX_NAME_BYTES = 256;
export const ATTR_ARCH = 0x20;
export const ATTR_NAME_IS_UTF = 0x80;
/** iFolder values at or above this mark files continued across cabinets. */
export const IFOLD_CONTINUED = 0xfffd;
export const MAX_FILES = 0xffff;

export interface CfFile {
  cbFile: number;
  uoffFolderStart: number;
  iFolder: number;
  date: number;
  time: number;
  attribs: number;
  /** The stored name bytes, without the NUL. */
  name: Buffer;
}

export function fileEntryBytes(nameBytes: number): number {
  return CFFILE_FIXED_BYTES + nameBytes + 1;
}

export function encodeFileEntry(f: CfFile): Buffer {
  const out = Buffer.alloc(fileEntryBytes(f.name.length));
  out.writeUInt32LE(f.cbFile, 0);
  out.writeUInt32LE(f.uoffFolderStart, 4);
  out.writeUInt16LE(f.iFolder, 8);
  out.writeUInt16LE(f.date, 10);
  out.writeUInt16LE(f.time, 12);
  out.writeUInt16LE(f.attribs, 14);
  f.name.copy(out, CFFILE_FIXED_BYTES);
  return out;
}

/**
 * Decodes the CFFILE at `offset` of `table` (the bytes from coffFiles to cbCabinet, or fewer);
 * returns it with the offset of the next entry. `index` is for messages.
 */
export function decodeFileEntry(
  table: Buffer,
  offset: number,
  index: number,
): { entry: CfFile; next: number } {
  if (offset + CFFILE_FIXED_BYTES > table.length) {
    throw cabError('truncated', `CFFILE ${index} is cut off`, { file: index });
  }
  const nameStart = offset + CFFILE_FIXED_BYTES;
  const searchEnd = Math.min(table.length, nameStart + MAX_NAME_BYTES);
  const nul = table.indexOf(0, nameStart);
  if (nul < 0 || nul >= searchEnd) {
    throw cabError(
      'bad_name',
      `CFFILE ${index} has no name terminator within ${MAX_NAME_BYTES} bytes`,
      {
        file: index,
      },
    );
  }
  const entry: CfFile = {
    cbFile: table.readUInt32LE(offset),
    uoffFolderStart: table.readUInt32LE(offset + 4),
    iFolder: table.readUInt16LE(offset + 8),
    date: table.readUInt16LE(offset + 10),
    time: table.readUInt16LE(offset + 12),
    attribs: table.readUInt16LE(offset + 14),
    name: Buffer.from(table.subarray(nameStart, nul)),
  };
  return { entry, next: nul + 1 };
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The stored name as a string: UTF-8 with NAME_IS_UTF, else bytes as Latin-1 (MS-CAB 2.3). */
export function decodeName(entry: CfFile, index: number): string {
  if (entry.name.length === 0)
    throw cabError('bad_name', `CFFILE ${index} has an empty name`, { file: index });
  if ((entry.attribs & ATTR_NAME_IS_UTF) === 0) return entry.name.toString('latin1');
  try {
    return utf8.decode(entry.name);
  } catch {
    throw cabError('bad_name', `CFFILE ${index} is marked UTF-8 but its name is not`, {
      file: index,
    });
  }
}

const DOS_EPOCH_YEAR = 1980;
const DOS_LAST_YEAR = DOS_EPOCH_YEAR + 127;

/** DOS date and time of `when` in UTC, clamped to the representable 1980..2107. */
export function toDosDateTime(when: Date): { date: number; time: number } {
  const year = when.getUTCFullYear();
  if (Number.isNaN(year) || year < DOS_EPOCH_YEAR) return { date: (1 << 5) | 1, time: 0 };
  if (year > DOS_LAST_YEAR) {
    return { date: (127 << 9) | (12 << 5) | 31, time: (23 << 11) | (59 << 5) | 29 };
  }
  return {
    date: ((year - DOS_EPOCH_YEAR) << 9) | ((when.getUTCMonth() + 1) << 5) | when.getUTCDate(),
    time: (when.getUTCHours() << 11) | (when.getUTCMinutes() << 5) | (when.getUTCSeconds() >> 1),
  };
}

/** The UTC instant of a DOS date/time; out-of-range fields are carried as Date.UTC does. */
export function fromDosDateTime(date: number, time: number): Date {
  return new Date(
    Date.UTC(
      DOS_EPOCH_YEAR + (date >> 9),
      ((date >> 5) & 0x0f) - 1,
      date & 0x1f,
      time >> 11,
      (time >> 5) & 0x3f,
      (time & 0x1f) * 2,
    ),
  );
}
