/**
 * The protocol state of MS-WUSP, sealed: the authorization cookie of GetAuthorizationCookie
 * ([MS-WUSP] 2.2.3.4, CookieData) and the cookie of GetCookie/SyncUpdates (2.2.3.5,
 * EncryptedData). Both are opaque to the client; the server reads back what it put in.
 *
 * WSUS's own cookies were .NET-serialized objects, and CVE-2025-59287 was exactly a crafted
 * cookie reaching that deserializer. Here a cookie is a fixed binary layout, versioned,
 * encrypted and authenticated with AES-256-GCM, and parsed field by field with every length
 * checked: anything else (another key, a flipped bit, a short or long blob, an unknown version
 * or kind, a bad UTF-8 string) is refused before any field is used.
 *
 * Sealed blob:
 *
 * | offset | size | field                                   |
 * |--------|------|-----------------------------------------|
 * | 0      | 1    | magic 0x57 ('W')                        |
 * | 1      | 1    | layout version (1)                      |
 * | 2      | 1    | kind: 1 authorization cookie, 2 cookie  |
 * | 3      | 12   | GCM nonce (random)                      |
 * | 15     | n    | ciphertext of the plaintext below       |
 * | 15+n   | 16   | GCM tag; bytes 0-2 are additional data  |
 *
 * Authorization cookie plaintext (kind 1): SusClientId (16, GUID bytes as written), expiry (8,
 * ms since 1970, big-endian), target group (1-byte length + UTF-8), DNS name (1 + UTF-8).
 *
 * Cookie plaintext (kind 2): server ID (16), SusClientId (16), expiry (8), config LastChange (8,
 * ms), protocol version major (2) and minor (2), sync anchor: catalog version (4) and policy
 * epoch (4) of the last SyncUpdates answered, target group (1 + UTF-8).
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

const MAGIC = 0x57;
const LAYOUT = 1;
const KIND_AUTH = 1;
const KIND_COOKIE = 2;
const HEADER = 3;
const NONCE = 12;
const TAG = 16;
/** Longest plaintext: two GUIDs, four 8-byte and 4-byte fields, two 255-byte strings. */
const MAX_SEALED = HEADER + NONCE + 16 * 2 + 8 * 3 + 4 * 3 + 256 * 2 + TAG;

export interface AuthorizationState {
  susClientId: string;
  expiresAt: number;
  targetGroup: string;
  dnsName: string;
}

export interface CookieState {
  serverId: string;
  susClientId: string;
  expiresAt: number;
  lastChange: number;
  protocol: { major: number; minor: number };
  anchor: { catalogVersion: number; policyEpoch: number };
  targetGroup: string;
}

/** Why a blob was refused; the caller maps it to the protocol's ErrorCode. */
export type OpenFailure = 'malformed' | 'forged';

export class CookieError extends Error {
  constructor(readonly reason: OpenFailure) {
    super(
      reason === 'malformed'
        ? 'the cookie is not one this server writes'
        : 'the cookie fails authentication',
    );
  }
}

/** Seals and opens cookies with a key derived from the site's sync key (HKDF, own label). */
export class CookieSealer {
  private readonly key: Buffer;

  constructor(siteKey: Buffer) {
    this.key = Buffer.from(hkdfSync('sha256', siteKey, 'upcat', 'upcat wusp cookie v1', 32));
  }

  sealAuthorization(state: AuthorizationState): Buffer {
    const w = new Writer();
    w.guid(state.susClientId);
    w.u64(state.expiresAt);
    w.text(state.targetGroup);
    w.text(state.dnsName);
    return this.seal(KIND_AUTH, w.done());
  }

  openAuthorization(blob: Buffer): AuthorizationState {
    const r = new Reader(this.open(KIND_AUTH, blob));
    const state = {
      susClientId: r.guid(),
      expiresAt: r.u64(),
      targetGroup: r.text(),
      dnsName: r.text(),
    };
    r.end();
    return state;
  }

  sealCookie(state: CookieState): Buffer {
    const w = new Writer();
    w.guid(state.serverId);
    w.guid(state.susClientId);
    w.u64(state.expiresAt);
    w.u64(state.lastChange);
    w.u16(state.protocol.major);
    w.u16(state.protocol.minor);
    w.u32(state.anchor.catalogVersion);
    w.u32(state.anchor.policyEpoch);
    w.text(state.targetGroup);
    return this.seal(KIND_COOKIE, w.done());
  }

  openCookie(blob: Buffer): CookieState {
    const r = new Reader(this.open(KIND_COOKIE, blob));
    const state = {
      serverId: r.guid(),
      susClientId: r.guid(),
      expiresAt: r.u64(),
      lastChange: r.u64(),
      protocol: { major: r.u16(), minor: r.u16() },
      anchor: { catalogVersion: r.u32(), policyEpoch: r.u32() },
      targetGroup: r.text(),
    };
    r.end();
    return state;
  }

  private seal(kind: number, plain: Buffer): Buffer {
    const header = Buffer.from([MAGIC, LAYOUT, kind]);
    const nonce = randomBytes(NONCE);
    const cipher = createCipheriv('aes-256-gcm', this.key, nonce);
    cipher.setAAD(header);
    const body = Buffer.concat([cipher.update(plain), cipher.final()]);
    return Buffer.concat([header, nonce, body, cipher.getAuthTag()]);
  }

  private open(kind: number, blob: Buffer): Buffer {
    if (blob.length < HEADER + NONCE + TAG || blob.length > MAX_SEALED)
      throw new CookieError('malformed');
    if (blob[0] !== MAGIC || blob[1] !== LAYOUT || blob[2] !== kind)
      throw new CookieError('malformed');
    const decipher = createDecipheriv(
      'aes-256-gcm',
      this.key,
      blob.subarray(HEADER, HEADER + NONCE),
    );
    decipher.setAAD(blob.subarray(0, HEADER));
    decipher.setAuthTag(blob.subarray(blob.length - TAG));
    try {
      return Buffer.concat([
        decipher.update(blob.subarray(HEADER + NONCE, blob.length - TAG)),
        decipher.final(),
      ]);
    } catch {
      throw new CookieError('forged');
    }
  }
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

class Writer {
  private readonly parts: Buffer[] = [];

  guid(value: string): void {
    const lower = value.toLowerCase();
    if (!GUID.test(lower)) throw new Error(`not a GUID: ${value}`);
    this.parts.push(Buffer.from(lower.replace(/-/g, ''), 'hex'));
  }

  u64(value: number): void {
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(BigInt(Math.max(0, Math.trunc(value))));
    this.parts.push(b);
  }

  u32(value: number): void {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(value >>> 0);
    this.parts.push(b);
  }

  u16(value: number): void {
    const b = Buffer.alloc(2);
    b.writeUInt16BE(value & 0xffff);
    this.parts.push(b);
  }

  text(value: string): void {
    const bytes = Buffer.from(value, 'utf8');
    if (bytes.length > 255) throw new Error('cookie text over 255 bytes');
    this.parts.push(Buffer.from([bytes.length]), bytes);
  }

  done(): Buffer {
    return Buffer.concat(this.parts);
  }
}

/** Reads fields in order; any read past the end, or bytes left over, is `malformed`. */
class Reader {
  private at = 0;

  constructor(private readonly buf: Buffer) {}

  private take(n: number): Buffer {
    if (this.at + n > this.buf.length) throw new CookieError('malformed');
    const out = this.buf.subarray(this.at, this.at + n);
    this.at += n;
    return out;
  }

  guid(): string {
    const h = this.take(16).toString('hex');
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  u64(): number {
    const v = this.take(8).readBigUInt64BE();
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new CookieError('malformed');
    return Number(v);
  }

  u32(): number {
    return this.take(4).readUInt32BE();
  }

  u16(): number {
    return this.take(2).readUInt16BE();
  }

  text(): string {
    const n = this.take(1)[0] as number;
    try {
      return utf8.decode(this.take(n));
    } catch (err) {
      if (err instanceof CookieError) throw err;
      throw new CookieError('malformed');
    }
  }

  end(): void {
    if (this.at !== this.buf.length) throw new CookieError('malformed');
  }
}
