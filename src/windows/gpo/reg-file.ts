/**
 * A .reg file as regedit exports one ("Windows Registry Editor Version 5.00"): UTF-16LE with a
 * byte-order mark, CRLF line ends, a blank line before each `[key]`; REG_SZ as a quoted string
 * (`\` and `"` escaped with `\`), REG_DWORD as `dword:` and 8 lower-case hex digits, REG_BINARY as
 * `hex:` comma-separated bytes wrapped before 80 columns with a trailing `\` and a two-space
 * indent. Every key is under HKEY_LOCAL_MACHINE.
 */
import { hasControlChars } from '../../validation.js';
import { byKey, HKLM, type RegistryEntry } from './registry.js';

export const REG_HEADER = 'Windows Registry Editor Version 5.00';
const WIDTH = 80;

export function renderRegFile(entries: readonly RegistryEntry[]): Buffer {
  const lines = [REG_HEADER];
  for (const [key, values] of byKey(entries)) {
    lines.push('', `[${HKLM}\\${key}]`);
    for (const e of values) lines.push(...valueLines(e));
  }
  lines.push('', '');
  return Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(lines.join('\r\n'), 'utf16le')]);
}

function valueLines(e: RegistryEntry): string[] {
  const name = `"${escape(e.value)}"=`;
  switch (e.type) {
    case 'REG_SZ':
      return [`${name}"${escape(e.data)}"`];
    case 'REG_DWORD':
      return [`${name}dword:${e.data.toString(16).padStart(8, '0')}`];
    case 'REG_BINARY':
      return hexLines(`${name}hex:`, e.data);
  }
}

/** `hex:` bytes, wrapped so that no line (with its trailing `,\`) passes 80 columns. */
function hexLines(prefix: string, data: Buffer): string[] {
  const lines: string[] = [];
  let line = prefix;
  for (let i = 0; i < data.length; i++) {
    const byte = (data[i] as number).toString(16).padStart(2, '0');
    const last = i === data.length - 1;
    if (line.length + byte.length + 2 > WIDTH) {
      lines.push(`${line}\\`);
      line = '  ';
    }
    line += last ? byte : `${byte},`;
  }
  lines.push(line);
  return lines;
}

function escape(text: string): string {
  // A line break or other control character cannot be written in a quoted .reg string.
  if (hasControlChars(text)) throw new RangeError(`.reg: "${text}" holds a control character`);
  return text.replace(/[\\"]/g, (c) => `\\${c}`);
}
