/**
 * Registry.pol writer ([MS-GPREG] 2.2.1 Registry Policy Message Syntax).
 *
 * | field     | encoding                                                        |
 * |-----------|-----------------------------------------------------------------|
 * | Signature | the bytes 50 52 65 67 ("PReg")                                  |
 * | Version   | u32 LE, 1                                                       |
 * | Body      | Instructions, each `[KeyPath;Value;Type;Size;Data]`             |
 * | `[ ; ]`   | UTF-16LE characters (2 bytes each)                              |
 * | KeyPath   | UTF-16LE, NUL-terminated; keys joined by `\`, no hive           |
 * | Value     | UTF-16LE, NUL-terminated, 1 to 259 characters                   |
 * | Type      | u32 LE: 1 REG_SZ, 3 REG_BINARY, 4 REG_DWORD (also 2, 5, 7, 11)  |
 * | Size      | u32 LE, the byte length of Data                                 |
 * | Data      | REG_SZ: UTF-16LE with its NUL; REG_DWORD: u32 LE; BINARY: bytes |
 *
 * The hive is not in the file: a GPO's `Machine\Registry.pol` applies to HKEY_LOCAL_MACHINE.
 */
import { REG_TYPE_CODES, type RegistryEntry } from './registry.js';

const SIGNATURE = Buffer.from('PReg', 'ascii');
const VERSION = 1;

/** IdCharacter = %x20-5B / %x5D-7E: printable ASCII except `\`, which separates keys. */
const KEY_PART = /^[\x20-\x5b\x5d-\x7e]+$/;
/** ValueCharacter = SP / VCHAR, 1 to 259 of them. */
const VALUE_NAME = /^[\x20-\x7e]{1,259}$/;

export function encodeRegistryPol(entries: readonly RegistryEntry[]): Buffer {
  const header = Buffer.alloc(8);
  SIGNATURE.copy(header, 0);
  header.writeUInt32LE(VERSION, 4);
  return Buffer.concat([header, ...entries.map(instruction)]);
}

function instruction(entry: RegistryEntry): Buffer {
  checkNames(entry);
  const data = dataOf(entry);
  const u32 = (n: number): Buffer => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(n, 0);
    return b;
  };
  return Buffer.concat([
    utf16('['),
    utf16z(entry.key),
    utf16(';'),
    utf16z(entry.value),
    utf16(';'),
    u32(REG_TYPE_CODES[entry.type]),
    utf16(';'),
    u32(data.length),
    utf16(';'),
    data,
    utf16(']'),
  ]);
}

function dataOf(entry: RegistryEntry): Buffer {
  switch (entry.type) {
    case 'REG_SZ':
      return utf16z(entry.data);
    case 'REG_DWORD': {
      const b = Buffer.alloc(4);
      b.writeUInt32LE(entry.data, 0);
      return b;
    }
    case 'REG_BINARY':
      return entry.data;
  }
}

function checkNames(entry: RegistryEntry): void {
  if (!entry.key.split('\\').every((part) => KEY_PART.test(part)))
    throw new RangeError(`Registry.pol: "${entry.key}" is not a key path of printable ASCII`);
  if (!VALUE_NAME.test(entry.value))
    throw new RangeError(`Registry.pol: "${entry.value}" is not a value name of 1-259 characters`);
}

const utf16 = (s: string): Buffer => Buffer.from(s, 'utf16le');
const utf16z = (s: string): Buffer => Buffer.from(`${s}\0`, 'utf16le');
