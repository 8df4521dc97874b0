/**
 * Independent readers for the Group Policy tests: Samba's Registry.pol parser (Debian's
 * python3-samba, NDR `preg.file`), a .reg parser written from the format (not from upcat's
 * writer), and xmllint.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const exec = promisify(execFile);

/** One registry value as both readers give it: data as a string, a number or hex bytes. */
export interface Value {
  key: string;
  value: string;
  type: 'REG_SZ' | 'REG_DWORD' | 'REG_BINARY';
  data: string | number;
}

const SAMBA = `
import json, sys
from samba.dcerpc import preg
from samba.ndr import ndr_unpack
f = ndr_unpack(preg.file, open(sys.argv[1], 'rb').read())
types = {1: 'REG_SZ', 3: 'REG_BINARY', 4: 'REG_DWORD'}
def data(e):
    if isinstance(e.data, bytes): return e.data.hex()
    return e.data
print(json.dumps({
  'signature': f.header.signature, 'version': f.header.version, 'count': f.num_entries,
  'entries': [{'key': e.keyname, 'value': e.valuename, 'type': types.get(e.type, str(e.type)),
               'size': e.size, 'data': data(e)} for e in f.entries]}))
`;

export interface SambaPol {
  signature: string;
  version: number;
  count: number;
  entries: Array<Value & { size: number }>;
}

/** Parses a Registry.pol with Samba (the system python, where python3-samba lives). */
export async function sambaReadPol(file: string): Promise<SambaPol> {
  const { stdout } = await exec('/usr/bin/python3', ['-c', SAMBA, file]);
  return JSON.parse(stdout) as SambaPol;
}

/**
 * Parses a regedit 5.00 export: UTF-16LE with BOM, CRLF, `[HKEY_LOCAL_MACHINE\key]` sections,
 * `"name"="string"`, `dword:` 8 hex digits, `hex:` bytes continued with a trailing backslash.
 */
export function parseRegFile(bytes: Buffer): { header: string; crlf: boolean; values: Value[] } {
  if (bytes[0] !== 0xff || bytes[1] !== 0xfe) throw new Error('.reg: no UTF-16LE BOM');
  const text = bytes.subarray(2).toString('utf16le');
  const crlf = !/(^|[^\r])\n/.test(text);
  const physical = text.split('\r\n');
  const header = physical.shift() ?? '';
  const lines: string[] = [];
  let pending = '';
  for (const line of physical) {
    const joined = pending + (pending === '' ? line : line.replace(/^\s+/, ''));
    if (joined.endsWith('\\') && !joined.startsWith('[') && /=hex(\(\w+\))?:/.test(joined)) {
      pending = joined.slice(0, -1);
      continue;
    }
    pending = '';
    lines.push(joined);
  }
  const values: Value[] = [];
  let key: string | undefined;
  for (const line of lines) {
    if (line === '') continue;
    const section = /^\[HKEY_LOCAL_MACHINE\\(.+)\]$/.exec(line);
    if (section !== null) {
      key = section[1] as string;
      continue;
    }
    const m = /^"((?:[^"\\]|\\.)*)"=(.*)$/.exec(line);
    if (m === null || key === undefined) throw new Error(`.reg: cannot read line ${line}`);
    const name = unescape(m[1] as string);
    const rest = m[2] as string;
    let v: Value;
    const str = /^"((?:[^"\\]|\\.)*)"$/.exec(rest);
    const dw = /^dword:([0-9a-f]{8})$/.exec(rest);
    const hex = /^hex:((?:[0-9a-f]{2},)*[0-9a-f]{2})$/.exec(rest);
    if (str !== null) v = { key, value: name, type: 'REG_SZ', data: unescape(str[1] as string) };
    else if (dw !== null)
      v = { key, value: name, type: 'REG_DWORD', data: parseInt(dw[1] as string, 16) };
    else if (hex !== null)
      v = { key, value: name, type: 'REG_BINARY', data: (hex[1] as string).replace(/,/g, '') };
    else throw new Error(`.reg: cannot read value ${line}`);
    values.push(v);
  }
  return { header, crlf, values };
}

const unescape = (s: string): string => s.replace(/\\(.)/g, '$1');

/** Runs xmllint; returns its exit code and output. */
export async function xmllint(
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec('xmllint', args);
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

export async function opensslText(args: string[], input?: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = execFile('openssl', args, { encoding: 'buffer' }, (err, stdout) =>
      err === null ? resolve(stdout) : reject(err),
    );
    if (input !== undefined) child.stdin?.end(input);
  });
}
