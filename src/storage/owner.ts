import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import os from 'node:os';

/**
 * Which process holds something (an idempotency lease, a staging file), written so that another
 * process on the same machine can tell for certain that the holder is dead (issue 13 item 7): a
 * crashed upload then frees its key and its temporary file at once instead of after a lease or an
 * hour. The token names the machine (a hash of host name and boot ID), the process ID and the
 * process's start time: a PID reused after the crash has another start time, and a reboot
 * another boot ID, so "dead" is never said of a live holder. On another machine, or where
 * /proc is not there (not Linux), nothing is known and callers keep their time-outs.
 *
 * Token: `<machine 8 hex>.<pid hex>.<start ticks hex>` — at most 26 characters, so a random
 * suffix still fits a 32-character column.
 */
export type Liveness = 'alive' | 'dead' | 'unknown';

let self: string | null | undefined;

/** This process's token, or null where it cannot be made (no /proc). */
export function processToken(): string | null {
  if (self === undefined) {
    const start = startTicks(process.pid);
    self = start === undefined ? null : `${machine()}.${process.pid.toString(16)}.${start}`;
  }
  return self;
}

/** A unique owner ID of `length` characters that starts with this process's token when there is one. */
export function ownerId(length = 32): string {
  const token = processToken();
  const random = randomBytes(length).toString('hex');
  if (token === null) return random.slice(0, length);
  return `${token}.${random}`.slice(0, length);
}

/** Whether the process an owner ID (or token) names is still running. */
export function liveness(owner: string): Liveness {
  const m = /^([0-9a-f]{8})\.([0-9a-f]{1,8})\.([0-9a-f]{1,12})(?:\.|$)/.exec(owner);
  if (m === null || processToken() === null || m[1] !== machine()) return 'unknown';
  const pid = Number.parseInt(m[2] as string, 16);
  const start = startTicks(pid);
  return start === m[3] ? 'alive' : 'dead';
}

function machine(): string {
  let boot = '';
  try {
    boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    // no boot ID: the host name alone (processToken is null there anyway)
  }
  return createHash('sha256').update(`${os.hostname()}\n${boot}`).digest('hex').slice(0, 8);
}

/** Field 22 of /proc/<pid>/stat (start time in clock ticks since boot), in hex; undefined if gone. */
function startTicks(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces: count after its end.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = fields[19];
    return ticks === undefined ? undefined : BigInt(ticks).toString(16);
  } catch {
    return undefined;
  }
}
