import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

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
  return secretDigest(secret).toString('hex');
}

/** hashSecret's bytes (the sync fast path compares them per request without hex round trips). */
export function secretDigest(secret: string): Buffer {
  return createHash('sha256').update(secret, 'utf8').digest();
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
