import { hash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Client secrets. A secret is `<clientId>.<256 random bits, base64url>`: the prefix finds the
 * record by primary key and the random part is what proves possession. Being random and long,
 * it needs no slow password hash: SHA-256 of the whole secret is stored, compared in constant time.
 */
export interface IssuedSecret {
  secret: string;
  hash: string;
}

const SECRET = /^([0-9a-f-]{36})\.([A-Za-z0-9_-]{43})$/;

export function issueSecret(clientId: string): IssuedSecret {
  const secret = `${clientId}.${randomBytes(32).toString('base64url')}`;
  return { secret, hash: hashSecret(secret) };
}

export function hashSecret(secret: string): string {
  return hash('sha256', secret, 'hex');
}

/**
 * hashSecret's bytes as a 32-character latin1 string, for the sync fast path, which compares one
 * per request (digestsEqual). One-shot hashing and a string rather than a Buffer: in a busy
 * server a Hash object and a fresh ArrayBuffer per request each cost several µs of allocation
 * and garbage collection (issue 16, measured in docs/BENCHMARKS.md).
 */
export function secretDigest(secret: string): string {
  return hash('sha256', secret, 'latin1');
}

/** Constant-time equality of two latin1 digests (secretDigest's). */
export function digestsEqual(a: string, b: string): boolean {
  // Small Buffers come from Node's shared pool: no allocation of their own.
  const x = Buffer.from(a, 'latin1');
  const y = Buffer.from(b, 'latin1');
  return x.length === y.length && timingSafeEqual(x, y);
}

/** The client ID a secret names, or undefined when it is not shaped like one of ours. */
export function clientIdOfSecret(secret: string): string | undefined {
  return SECRET.exec(secret)?.[1];
}

export function secretMatches(secret: string, storedHash: string | null): boolean {
  if (storedHash === null) return false;
  const a = Buffer.from(hashSecret(secret), 'hex');
  const b = Buffer.from(storedHash, 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Parses `Authorization: Bearer <secret>`; undefined when absent or of another scheme. */
export function bearerOf(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const m = /^Bearer ([!-~]{1,512})$/.exec(header.trim());
  return m?.[1];
}
