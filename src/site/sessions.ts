import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import type { SiteConfig } from '../config/schema.js';
import { UpcatError } from '../errors.js';
import { audit } from '../storage/catalog-repo.js';
import type { Db } from '../storage/db.js';
import { hashSecret } from './secrets.js';
import type { TokenScope } from './tokens.js';
import { ROLE_SCOPE, isRole, userActor, type UserIdentity, type UserService } from './users.js';

/**
 * People's login sessions (issue 14 item 4). The session id is 256 random bits that only the
 * browser's cookie holds; the database keeps its SHA-256 (as for tokens, site/tokens.ts), so a
 * read of the database opens no session. A session ends:
 * - after `server.sessionIdleMinutes` without a request (idle expiry),
 * - `server.sessionMaxHours` after login whatever happens (absolute expiry),
 * - at logout, when the account's password changes, and when the account is removed
 *   (site/users.ts revokes the rows; `authenticate` also reads the account on every request,
 *   so a removal stops a session at once, on every node).
 *
 * The CSRF token is HMAC-SHA256(session id, "upcat-csrf-v1"): the browser's script gets it from
 * the login answer or `GET /v1/session` and sends it as `X-CSRF-Token` on every change. Another
 * site can make the browser send the cookie, never read this token; and the token gives no way
 * back to the session id.
 */
/** `POST /v1/session` body: one answer for a wrong name or password, whatever the account. */
export const loginInput = z.object({ name: z.string(), password: z.string() });

export interface SessionIdentity {
  user: UserIdentity;
  scope: TokenScope;
  csrfToken: string;
}

export interface StartedSession extends SessionIdentity {
  /** The cookie's value: shown to the browser once, stored only as a hash. */
  sessionId: string;
  expiresAt: string;
}

interface SessionRow {
  id_hash: string;
  user_id: string;
  created_at: string;
  last_seen_at: string;
  expires_at: string;
  revoked_at: string | null;
}

interface JoinedRow extends SessionRow {
  name: string;
  role: string;
  removed_at: string | null;
}

/** A session id as the cookie carries it: 32 random bytes, base64url without padding. */
export const SESSION_ID = /^[A-Za-z0-9_-]{43}$/;

const dead = (): UpcatError =>
  new UpcatError('unauthorized', 'session: unknown, expired or revoked; log in again');

export class SessionService {
  private readonly clock: () => number;

  constructor(
    private readonly deps: {
      db: Db;
      config: SiteConfig;
      users: UserService;
      /** Milliseconds since the epoch; tests move it instead of sleeping. */
      clock?: () => number;
    },
  ) {
    this.clock = deps.clock ?? Date.now;
  }

  get idleMs(): number {
    return this.deps.config.server.sessionIdleMinutes * 60_000;
  }

  get maxAgeMs(): number {
    return this.deps.config.server.sessionMaxHours * 3_600_000;
  }

  /** Checks a name and password and starts a session; one 401 for every refusal. */
  async login(name: unknown, password: unknown): Promise<StartedSession> {
    const user = await this.deps.users.check(name, password);
    if (user === undefined) {
      throw new UpcatError('unauthorized', 'login: wrong name or password');
    }
    const sessionId = randomBytes(32).toString('base64url');
    const at = this.clock();
    const expiresAt = iso(at + this.maxAgeMs);
    await this.deps.db.transaction(async (trx) => {
      await trx('sessions').insert({
        id_hash: hashSecret(sessionId),
        user_id: user.id,
        created_at: iso(at),
        last_seen_at: iso(at),
        expires_at: expiresAt,
        revoked_at: null,
      } satisfies SessionRow);
      await audit(trx, { actor: userActor(user.name), action: 'session.login' });
    });
    return {
      user,
      scope: ROLE_SCOPE[user.role],
      csrfToken: csrfOf(sessionId),
      sessionId,
      expiresAt,
    };
  }

  /** Who holds this session; 401 when it is unknown, expired, revoked, or its account is gone. */
  async authenticate(sessionId: string): Promise<SessionIdentity> {
    if (!SESSION_ID.test(sessionId)) throw dead();
    const row = (await this.deps
      .db('sessions')
      .join('users', 'users.id', 'sessions.user_id')
      .where('sessions.id_hash', hashSecret(sessionId))
      .first(
        'sessions.*',
        'users.name as name',
        'users.role as role',
        'users.removed_at as removed_at',
      )) as JoinedRow | undefined;
    const at = this.clock();
    if (row === undefined || !this.isLive(row, at) || !isRole(row.role)) throw dead();
    await this.touch(row, at);
    const user = { id: row.user_id, name: row.name, role: row.role };
    return { user, scope: ROLE_SCOPE[user.role], csrfToken: csrfOf(sessionId) };
  }

  /** Ends a session (logout). Unknown or already ended sessions are left as they are. */
  async logout(sessionId: string): Promise<void> {
    if (!SESSION_ID.test(sessionId)) return;
    const idHash = hashSecret(sessionId);
    await this.deps.db.transaction(async (trx) => {
      const row = (await trx('sessions')
        .join('users', 'users.id', 'sessions.user_id')
        .where('sessions.id_hash', idHash)
        .whereNull('sessions.revoked_at')
        .first('users.name as name')) as { name: string } | undefined;
      if (row === undefined) return;
      await trx('sessions')
        .where({ id_hash: idHash })
        .update({ revoked_at: iso(this.clock()) });
      await audit(trx, { actor: userActor(row.name), action: 'session.logout' });
    });
  }

  /** Whether `presented` is the CSRF token of the session (constant-time). */
  csrfMatches(sessionId: string, presented: string | undefined): boolean {
    if (presented === undefined) return false;
    const a = Buffer.from(csrfOf(sessionId));
    const b = Buffer.from(presented);
    return a.length === b.length && timingSafeEqual(a, b);
  }

  private isLive(row: JoinedRow, at: number): boolean {
    return (
      row.revoked_at === null &&
      row.removed_at === null &&
      Date.parse(row.expires_at) > at &&
      Date.parse(row.last_seen_at) + this.idleMs > at
    );
  }

  /**
   * Moves last_seen_at, at most once a minute (or a tenth of the idle time, if shorter): a
   * write per request would make every console click a database write.
   */
  private async touch(row: SessionRow, at: number): Promise<void> {
    if (at - Date.parse(row.last_seen_at) < Math.min(60_000, this.idleMs / 10)) return;
    await this.deps
      .db('sessions')
      .where({ id_hash: row.id_hash })
      .update({ last_seen_at: iso(at) });
  }
}

export function csrfOf(sessionId: string): string {
  return createHmac('sha256', sessionId).update('upcat-csrf-v1').digest('base64url');
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
