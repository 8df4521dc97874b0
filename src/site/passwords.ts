import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { UpcatError } from '../errors.js';
import { hasControlChars } from '../validation.js';

/**
 * Password hashing for people's accounts (issue 14 item 4). scrypt is memory-hard, so guessing
 * on GPUs or ASICs costs memory as well as time, and it ships with node:crypto. The stored
 * string describes itself in the PHC string format, so the cost can be raised later without
 * making old hashes unreadable:
 *
 *   $scrypt$ln=15,r=8,p=1$<salt, base64 without padding>$<64-byte key, base64 without padding>
 *
 * ln=15, r=8 uses 32 MiB and about 50-100 ms per hash (the OWASP password storage guidance
 * lists N=2^17 as a minimum for scrypt only beside r=8, p=1 on dedicated servers; 2^15 keeps a
 * login under a tenth of a second on a small VM while memory, not time, still bounds guessing).
 */
export interface ScryptCost {
  ln: number;
  r: number;
  p: number;
}

export const DEFAULT_COST: ScryptCost = { ln: 15, r: 8, p: 1 };
export const PASSWORD_MIN = 10;
export const PASSWORD_MAX = 1024;
const KEY_BYTES = 64;
const SALT_BYTES = 16;
const PHC =
  /^\$scrypt\$ln=(\d{1,2}),r=(\d{1,2}),p=(\d{1,2})\$([A-Za-z0-9+/]{22})\$([A-Za-z0-9+/]{86})$/;

/** A password as given: long enough, not absurdly long, no control characters. */
export function checkPassword(password: unknown, field = 'password'): string {
  if (typeof password !== 'string')
    throw new UpcatError('invalid_input', `${field}: must be a string`);
  if ([...password].length < PASSWORD_MIN)
    throw new UpcatError('invalid_input', `${field}: must be at least ${PASSWORD_MIN} characters`);
  if (password.length > PASSWORD_MAX)
    throw new UpcatError('invalid_input', `${field}: must be at most ${PASSWORD_MAX} characters`);
  if (hasControlChars(password))
    throw new UpcatError('invalid_input', `${field}: must not hold control characters`);
  return password;
}

export async function hashPassword(password: string, cost = DEFAULT_COST): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const key = await derive(password, salt, cost);
  return `$scrypt$ln=${cost.ln},r=${cost.r},p=${cost.p}$${b64(salt)}$${b64(key)}`;
}

/**
 * Whether `password` is the one `stored` was made from, compared in constant time. A stored
 * string that is not one of ours (or whose cost is out of bounds) never matches.
 */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const m = PHC.exec(stored);
  if (m === null) return false;
  const cost = { ln: Number(m[1]), r: Number(m[2]), p: Number(m[3]) };
  if (!costInBounds(cost)) return false;
  const expected = Buffer.from(m[5] ?? '', 'base64');
  const key = await derive(password, Buffer.from(m[4] ?? '', 'base64'), cost);
  return key.length === expected.length && timingSafeEqual(key, expected);
}

function costInBounds(c: ScryptCost): boolean {
  return c.ln >= 10 && c.ln <= 20 && c.r >= 1 && c.r <= 32 && c.p >= 1 && c.p <= 16;
}

function derive(password: string, salt: Buffer, cost: ScryptCost): Promise<Buffer> {
  const N = 2 ** cost.ln;
  const options: ScryptOptions = {
    N,
    r: cost.r,
    p: cost.p,
    // Node refuses more than 32 MiB by default; scrypt needs 128 * N * r bytes, plus headroom.
    maxmem: 128 * N * cost.r * 2,
  };
  // NFC: the same password typed on two keyboards may arrive composed or decomposed.
  const bytes = Buffer.from(password.normalize('NFC'), 'utf8');
  return new Promise((resolve, reject) => {
    scrypt(bytes, salt, KEY_BYTES, options, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

function b64(bytes: Buffer): string {
  return bytes.toString('base64').replace(/=+$/, '');
}
