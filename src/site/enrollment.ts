import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { UpcatError } from '../errors.js';
import { audit, now } from '../storage/catalog-repo.js';
import type { Q } from './client-repo.js';

/**
 * Enrollment tokens make a registration "trusted" (issue 5 item 4, `approval: auto-trusted`).
 * They live in the `tokens` table with scope `enroll`, stored as a SHA-256 hash (random tokens
 * need no slow hash). `upcat token create --scope enroll` makes them (src/site/tokens.ts).
 */
export const ENROLL_SCOPE = 'enroll';

export async function createEnrollmentToken(
  q: Q,
  options: { name: string; expiresAt?: string; actor: string },
): Promise<{ id: string; token: string }> {
  const id = randomUUID();
  const token = `upcat-enroll-${randomBytes(32).toString('base64url')}`;
  await q('tokens').insert({
    id,
    name: options.name,
    scope: ENROLL_SCOPE,
    token_hash: createHash('sha256').update(token).digest('hex'),
    created_at: now(),
    expires_at: options.expiresAt ?? null,
  });
  await audit(q, {
    actor: options.actor,
    action: 'token.create',
    target: id,
    detail: { scope: ENROLL_SCOPE },
  });
  return { id, token };
}

/** True for a current enrollment token; a presented but unknown, expired or revoked one is an error. */
export async function checkEnrollmentToken(q: Q, token: string): Promise<true> {
  const row = (await q('tokens')
    .where({ token_hash: createHash('sha256').update(token).digest('hex'), scope: ENROLL_SCOPE })
    .first('id', 'expires_at', 'revoked_at')) as
    { id: string; expires_at: string | null; revoked_at: string | null } | undefined;
  const at = now();
  if (
    row === undefined ||
    row.revoked_at !== null ||
    (row.expires_at !== null && row.expires_at <= at)
  ) {
    throw new UpcatError('unauthorized', 'enrollmentToken: unknown, expired or revoked');
  }
  await q('tokens').where({ id: row.id }).update({ last_used_at: at });
  return true;
}
