import { createCipheriv, createDecipheriv, randomBytes, scrypt } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { UpcatError } from '../errors.js';

/**
 * Passphrase encryption of the signing keys in a backup: scrypt (RFC 7914) derives a 256-bit key,
 * AES-256-GCM seals the bytes. The header (magic, scrypt parameters, salt, nonce) is the GCM
 * additional data, so a changed parameter fails authentication like a changed byte does.
 */
const MAGIC = Buffer.from('UPCATKEYS1');
/** scrypt cost: N = 2^17, r = 8, p = 1 (about 128 MiB and a few hundred ms per derivation). */
const PARAMS = { N: 1 << 17, r: 8, p: 1 };
const MAX_N = 1 << 20;
const HEADER_BYTES = MAGIC.length + 4 + 4 + 4 + 16 + 12;
const TAG_BYTES = 16;

export async function seal(plain: Buffer, passphrase: string): Promise<Buffer> {
  const salt = randomBytes(16);
  const iv = randomBytes(12);
  const header = Buffer.alloc(HEADER_BYTES);
  MAGIC.copy(header, 0);
  header.writeUInt32BE(PARAMS.N, MAGIC.length);
  header.writeUInt32BE(PARAMS.r, MAGIC.length + 4);
  header.writeUInt32BE(PARAMS.p, MAGIC.length + 8);
  salt.copy(header, MAGIC.length + 12);
  iv.copy(header, MAGIC.length + 28);
  const key = await derive(passphrase, salt, PARAMS);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(header);
  const body = Buffer.concat([cipher.update(plain), cipher.final()]);
  return Buffer.concat([header, body, cipher.getAuthTag()]);
}

export async function open(sealed: Buffer, passphrase: string): Promise<Buffer> {
  if (sealed.length < HEADER_BYTES + TAG_BYTES || !sealed.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw new UpcatError('integrity', 'the encrypted signing keys in the backup are malformed');
  }
  const header = sealed.subarray(0, HEADER_BYTES);
  const params = {
    N: header.readUInt32BE(MAGIC.length),
    r: header.readUInt32BE(MAGIC.length + 4),
    p: header.readUInt32BE(MAGIC.length + 8),
  };
  const powerOfTwo = params.N > 1 && (params.N & (params.N - 1)) === 0;
  if (
    !powerOfTwo ||
    params.N > MAX_N ||
    params.r < 1 ||
    params.r > 32 ||
    params.p < 1 ||
    params.p > 16
  ) {
    throw new UpcatError(
      'integrity',
      'the encrypted signing keys ask for an unreasonable scrypt cost',
    );
  }
  const salt = header.subarray(MAGIC.length + 12, MAGIC.length + 28);
  const iv = header.subarray(MAGIC.length + 28, HEADER_BYTES);
  const key = await derive(passphrase, salt, params);
  const decipher = createDecipheriv('aes-256-gcm', key, iv);
  decipher.setAAD(header);
  decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
  try {
    return Buffer.concat([
      decipher.update(sealed.subarray(HEADER_BYTES, sealed.length - TAG_BYTES)),
      decipher.final(),
    ]);
  } catch {
    throw new UpcatError(
      'unauthorized',
      'the passphrase does not open the signing keys in this backup (wrong passphrase or altered file)',
    );
  }
}

function derive(
  passphrase: string,
  salt: Buffer,
  params: { N: number; r: number; p: number },
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(
      passphrase.normalize('NFC'),
      salt,
      32,
      { ...params, maxmem: 256 * params.N * params.r + 16 * 1024 * 1024 },
      (err, key) => (err === null ? resolve(key) : reject(err)),
    );
  });
}

/** Environment variable that may hold the backup passphrase (never a command-line argument). */
export const PASSPHRASE_ENV = 'UPCAT_BACKUP_PASSPHRASE';

/**
 * The passphrase from `--passphrase-file` (its first line) or `UPCAT_BACKUP_PASSPHRASE`; never from
 * argv, where other users of the machine can read it in the process list.
 */
export async function readPassphrase(
  file: string | undefined,
  env: NodeJS.ProcessEnv,
): Promise<string | undefined> {
  let value: string | undefined;
  if (file !== undefined) {
    const text = await readFile(file, 'utf8').catch((err: unknown) => {
      throw new UpcatError(
        'invalid_input',
        `cannot read the passphrase file ${file}: ${(err as Error).message}`,
      );
    });
    value = text.split(/\r?\n/)[0];
  } else {
    value = env[PASSPHRASE_ENV];
  }
  if (value === undefined || value === '') return undefined;
  if (value.length < 8) {
    throw new UpcatError('invalid_input', 'the backup passphrase must be at least 8 characters');
  }
  return value;
}
