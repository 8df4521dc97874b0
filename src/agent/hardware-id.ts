import { createHash } from 'node:crypto';
import { access, readdir, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { UpcatError } from '../errors.js';

export interface HardwareId {
  /** SHA-256 (hex) of the attributes below, in a fixed order. */
  id: string;
  /** The attributes that went in, by name (values are not reported: they identify the machine). */
  sources: string[];
  /** Attributes that could not be read, and what that means for the ID. */
  warnings: string[];
}

/** Values that firmware vendors ship instead of a real identifier. */
const PLACEHOLDERS = new Set([
  '',
  'none',
  'default string',
  'to be filled by o.e.m.',
  'not specified',
  'not applicable',
  '00000000-0000-0000-0000-000000000000',
  '03000200-0400-0500-0006-000700080009',
  'ffffffff-ffff-ffff-ffff-ffffffffffff',
]);

/**
 * The hardware ID of issue 6 item 1 on Linux, from stable attributes: the DMI product UUID, the
 * board serial, and the MAC addresses of physical interfaces (those with a `device` link under
 * /sys/class/net; virtual ones such as bridges, veth and tun have none). Hashed with SHA-256, so
 * the site never sees the raw serials. As non-root, product_uuid and board_serial are usually
 * unreadable (0400 root): the ID then rests on the MACs alone, and the warning says so. Only when
 * nothing at all is readable is /etc/machine-id used (with the host name), because a cloned disk
 * carries it along and the site's duplicate detection would see one machine.
 */
export async function linuxHardwareId(root = '/'): Promise<HardwareId> {
  const parts: string[] = [];
  const sources: string[] = [];
  const warnings: string[] = [];
  for (const name of ['product_uuid', 'board_serial']) {
    const file = path.join(root, 'sys/class/dmi/id', name);
    const value = await readValue(file);
    if (value.ok && !PLACEHOLDERS.has(value.text.toLowerCase())) {
      parts.push(`${name}=${value.text.toLowerCase()}`);
      sources.push(name);
    } else if (!value.ok) {
      warnings.push(`${file}: ${value.why}`);
    }
  }
  const macs = await physicalMacs(root);
  if (macs.length > 0) {
    parts.push(`mac=${macs.join(',')}`);
    sources.push(`mac (${macs.length})`);
  } else {
    warnings.push('no physical network interface with a MAC address');
  }
  if (parts.length === 0) {
    const machineId = await readValue(path.join(root, 'etc/machine-id'));
    if (machineId.ok) {
      parts.push(`machine-id=${machineId.text}`, `host=${os.hostname()}`);
      sources.push('machine-id', 'hostname');
      warnings.push(
        'no hardware attribute readable: falling back to /etc/machine-id and the host name (a cloned disk keeps this ID; run the agent as root)',
      );
    } else {
      parts.push(`host=${os.hostname()}`);
      sources.push('hostname');
      warnings.push(
        'no hardware attribute nor machine-id readable: the ID rests on the host name alone',
      );
    }
  } else if (!sources.includes('product_uuid')) {
    warnings.push(
      'DMI product_uuid unreadable (needs root): the ID rests on the attributes listed',
    );
  }
  return { id: createHash('sha256').update(parts.join('\n')).digest('hex'), sources, warnings };
}

async function physicalMacs(root: string): Promise<string[]> {
  const dir = path.join(root, 'sys/class/net');
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const macs = new Set<string>();
  for (const name of names) {
    try {
      await access(path.join(dir, name, 'device'));
    } catch {
      continue; // virtual interface
    }
    const value = await readValue(path.join(dir, name, 'address'));
    const mac = value.ok ? value.text.toLowerCase() : '';
    if (/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/.test(mac) && mac !== '00:00:00:00:00:00') macs.add(mac);
  }
  return [...macs].sort();
}

async function readValue(
  file: string,
): Promise<{ ok: true; text: string } | { ok: false; why: string }> {
  try {
    return { ok: true, text: (await readFile(file, 'utf8')).trim() };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return {
      ok: false,
      why: code === 'EACCES' ? 'not readable (needs root)' : (code ?? 'unreadable'),
    };
  }
}

/** The hardware ID of this machine; other platforms hash what os reports (documented as weaker). */
export async function hardwareId(override?: string): Promise<HardwareId> {
  if (override !== undefined) {
    // It travels in an HTTP header (Upcat-Hardware-Id) as well as in the registration.
    if (!/^[\x21-\x7e]{1,128}$/.test(override))
      throw new UpcatError(
        'invalid_input',
        '--hardware-id: must be 1-128 printable ASCII characters without spaces',
      );
    return { id: override, sources: ['--hardware-id'], warnings: [] };
  }
  if (process.platform === 'linux') return linuxHardwareId();
  const macs = Object.values(os.networkInterfaces())
    .flat()
    .filter((i) => i !== undefined && !i.internal && i.mac !== '00:00:00:00:00:00')
    .map((i) => i?.mac ?? '')
    .sort();
  return {
    id: createHash('sha256')
      .update([os.hostname(), ...new Set(macs)].join('\n'))
      .digest('hex'),
    sources: ['hostname', 'mac'],
    warnings: [`${process.platform}: hardware ID from the host name and MAC addresses only`],
  };
}
