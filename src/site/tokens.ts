import { randomBytes, randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { z } from 'zod';
import { UpcatError, conflict, notFound } from '../errors.js';
import { audit, now } from '../storage/catalog-repo.js';
import type { Db } from '../storage/db.js';
import { parseWith } from '../validation.js';
import type { Q } from './client-repo.js';
import { hasControlChars } from '../validation.js';
import { parseDuration } from './duration.js';
import { ENROLL_SCOPE } from './enrollment.js';
import { hashSecret, secretMatches } from './secrets.js';
import { isUniqueViolation } from '../storage/db-errors.js';
import { whereAfter } from '../storage/keyset.js';
import { pageOf, type Page } from '../server/paging.js';

/**
 * API tokens for release pipelines and administrators (issue 7). Scopes:
 * - `read`: read the admin API (updates, clients, groups, deployments, reports), change nothing;
 *   every other scope implies it (the console's viewer role, issue 14);
 * - `publish`: publish and expire updates;
 * - `approve`: deploy and promote updates, read reports and clients;
 * - `admin`: everything, including changes to clients, tokens and the audit log.
 * `admin` implies the other two; `approve` does not imply `publish`, so that whoever approves
 * releases cannot also put new bits into the catalog (two people for one change reaching endpoints).
 */
export const TOKEN_SCOPES = ['read', 'publish', 'approve', 'admin'] as const;
export type TokenScope = (typeof TOKEN_SCOPES)[number];

export function scopeAllows(held: TokenScope, needed: TokenScope): boolean {
  return held === needed || held === 'admin' || needed === 'read';
}

/** Who a token authenticates. */
export interface TokenIdentity {
  id: string;
  name: string;
  scope: TokenScope;
}

export interface CreatedToken extends Omit<TokenIdentity, 'scope'> {
  scope: TokenScope | typeof ENROLL_SCOPE;
  /** The secret: shown once, stored only as a hash. */
  token: string;
  expiresAt: string | null;
}

export interface TokenView {
  id: string;
  name: string;
  /** A TokenScope, or `enroll` for the registration tokens of issue 5. */
  scope: string;
  createdAt: string;
  expiresAt: string | null;
  revokedAt: string | null;
  lastUsedAt: string | null;
  state: 'active' | 'expired' | 'revoked';
}

interface TokenRow {
  id: string;
  name: string;
  scope: string;
  token_hash: string;
  created_at: string;
  expires_at: string | null;
  revoked_at: string | null;
  last_used_at: string | null;
}

/**
 * `upcat_<id>.<256 random bits>`: the prefix makes a leaked token recognisable (secret scanners),
 * the id finds the row by primary key, the random part proves possession. As with client secrets
 * (secrets.ts), SHA-256 of the whole token is stored and compared in constant time.
 */
const TOKEN = /^upcat_([0-9a-f-]{36})\.[A-Za-z0-9_-]{43}$/;

/** last_used_at moves at most this often per token, written behind the request. */
const TOUCH_INTERVAL_MS = 60_000;

/**
 * `enroll` makes a registration token (issue 5 item 4): presented in `POST /v1/clients` it makes
 * the registration trusted (`approval: auto-trusted`); it never authenticates the API.
 */
const CREATABLE_SCOPES = [...TOKEN_SCOPES, ENROLL_SCOPE] as const;

export const createInput = z.strictObject({
  name: z
    .string()
    .trim()
    .min(1)
    .max(128)
    .refine((s) => !hasControlChars(s), 'must not hold control characters')
    .optional(),
  scope: z.enum(CREATABLE_SCOPES, { error: `must be one of ${CREATABLE_SCOPES.join(', ')}` }),
  expiresIn: z.string().optional(),
});

export class TokenService {
  /** Tokens used since their last_used_at was written, and when. */
  private pendingUse = new Map<string, string>();
  private touched = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();

  constructor(private readonly deps: { db: Db; log: Logger }) {}

  async create(
    input: { name?: string; scope: string; expiresIn?: string },
    actor: string,
  ): Promise<CreatedToken> {
    const parsed = parseWith(createInput, input, 'token');
    const id = randomUUID();
    const name = parsed.name ?? `token-${id.slice(0, 8)}`;
    const expiresAt =
      parsed.expiresIn === undefined
        ? null
        : new Date(Date.now() + parseDuration(parsed.expiresIn, 'expires')).toISOString();
    const token = `upcat_${id}.${randomBytes(32).toString('base64url')}`;
    await this.deps.db.transaction(async (trx) => {
      const clash = (await trx('tokens').where({ name }).whereNull('revoked_at').first('id')) as
        { id: string } | undefined;
      const taken = (): Error =>
        conflict(`a token named "${name}" already exists; revoke it or choose another name`);
      if (clash !== undefined) throw taken();
      await trx('tokens')
        .insert({
          id,
          name,
          scope: parsed.scope,
          token_hash: hashSecret(token),
          created_at: now(),
          expires_at: expiresAt,
        })
        .catch((err: unknown) => {
          // Another create of the same name committed between our check and this insert.
          throw isUniqueViolation(err) ? taken() : err;
        });
      await audit(trx, {
        actor,
        action: 'token.create',
        target: name,
        detail: { id, scope: parsed.scope, expiresAt },
      });
    });
    return { id, name, scope: parsed.scope, token, expiresAt };
  }

  async list(): Promise<TokenView[]> {
    const rows = (await this.deps.db('tokens').orderBy('created_at').orderBy('id')) as TokenRow[];
    return rows.map((r) => this.viewOf(r, now()));
  }

  /** One page of `GET /v1/tokens` (issue 14 item 1), in (created_at, id) order, after `after`. */
  async page(limit: number, after?: readonly [string, string]): Promise<Page<TokenView>> {
    const query = whereAfter(this.deps.db('tokens'), ['created_at', 'id'], after);
    const rows = (await query
      .orderBy('created_at')
      .orderBy('id')
      .limit(limit + 1)) as TokenRow[];
    const at = now();
    return pageOf(
      rows.map((r) => this.viewOf(r, at)),
      limit,
      (t) => [t.createdAt, t.id],
    );
  }

  /** What a token looks like to anyone: never its secret nor its hash. */
  private viewOf(r: TokenRow, at: string): TokenView {
    return {
      id: r.id,
      name: r.name,
      scope: r.scope,
      createdAt: r.created_at,
      expiresAt: r.expires_at,
      revokedAt: r.revoked_at,
      lastUsedAt: this.pendingUse.get(r.id) ?? r.last_used_at,
      state: r.revoked_at !== null ? 'revoked' : isExpired(r, at) ? 'expired' : 'active',
    };
  }

  /** Revokes by id, or by name when exactly one unrevoked token carries it. */
  async revoke(idOrName: string, actor: string): Promise<TokenView> {
    const id = await this.deps.db.transaction(async (trx) => {
      const row = await this.find(trx, idOrName);
      if (row.revoked_at !== null) return row.id;
      await trx('tokens').where({ id: row.id }).update({ revoked_at: now() });
      await audit(trx, {
        actor,
        action: 'token.revoke',
        target: row.name,
        detail: { id: row.id, scope: row.scope },
      });
      return row.id;
    });
    const view = (await this.list()).find((t) => t.id === id);
    if (view === undefined) throw notFound(`no token "${idOrName}"`);
    return view;
  }

  /**
   * The identity of a presented token. Unknown, expired and revoked tokens are all 401 with one
   * message, so a caller cannot probe which ids exist. Registration (`enroll`) tokens are not API tokens.
   */
  async authenticate(secret: string): Promise<TokenIdentity> {
    const id = TOKEN.exec(secret)?.[1];
    const row =
      id === undefined
        ? undefined
        : ((await this.deps.db('tokens').where({ id }).first()) as TokenRow | undefined);
    // Compared even when no row was found, so the answer takes the same time either way.
    const matches = secretMatches(secret, row?.token_hash ?? hashSecret(''));
    if (
      row === undefined ||
      !matches ||
      row.revoked_at !== null ||
      isExpired(row, now()) ||
      !isScope(row.scope)
    ) {
      throw new UpcatError('unauthorized', 'token: unknown, expired or revoked');
    }
    this.touch(row.id);
    return { id: row.id, name: row.name, scope: row.scope };
  }

  /** Writes the pending last-used times (also called on close). */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(() => this.write());
    return this.flushing;
  }

  private touch(id: string): void {
    const at = Date.now();
    if (at - (this.touched.get(id) ?? 0) < TOUCH_INTERVAL_MS) return;
    if (this.touched.size > 10_000) this.touched.clear();
    this.touched.set(id, at);
    this.pendingUse.set(id, new Date(at).toISOString());
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, 2_000).unref();
  }

  private async write(): Promise<void> {
    if (this.pendingUse.size === 0) return;
    const pending = [...this.pendingUse];
    this.pendingUse = new Map();
    try {
      for (const [id, at] of pending)
        await this.deps.db('tokens').where({ id }).update({ last_used_at: at });
    } catch (err) {
      this.deps.log.warn({ err, tokens: pending.length }, 'token last use not recorded');
    }
  }

  private async find(q: Q, idOrName: string): Promise<TokenRow> {
    const byId = (await q('tokens').where({ id: idOrName }).first()) as TokenRow | undefined;
    if (byId !== undefined) return byId;
    const byName = (await q('tokens')
      .where({ name: idOrName })
      .orderBy('created_at', 'desc')) as TokenRow[];
    const live = byName.filter((r) => r.revoked_at === null);
    if (live.length > 1)
      throw conflict(`${live.length} tokens are named "${idOrName}"; revoke by id`);
    const row = live[0] ?? byName[0];
    if (row === undefined) throw notFound(`no token "${idOrName}"`);
    return row;
  }
}

function isExpired(row: { expires_at: string | null }, at: string): boolean {
  return row.expires_at !== null && row.expires_at <= at;
}

function isScope(scope: string): scope is TokenScope {
  return (TOKEN_SCOPES as readonly string[]).includes(scope);
}
