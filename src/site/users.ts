import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { UpcatError, conflict, notFound } from '../errors.js';
import { audit } from '../storage/catalog-repo.js';
import { isUniqueViolation } from '../storage/db-errors.js';
import type { Db } from '../storage/db.js';
import { parseWith } from '../validation.js';
import { lockKey, type Q } from './client-repo.js';
import { checkPassword, hashPassword, verifyPassword } from './passwords.js';
import type { TokenScope } from './tokens.js';
import { ROLES, type Role } from './vocabulary.js';

/**
 * People's accounts (issue 14 item 4): `admin` (everything), `operator` (approve clients and
 * deploy; no tokens, no users), `viewer` (read only). A role is a token scope under another
 * name, so requireScope judges a person exactly as it judges a token.
 */
export { ROLES, type Role };

export const ROLE_SCOPE: Readonly<Record<Role, TokenScope>> = {
  admin: 'admin',
  operator: 'approve',
  viewer: 'read',
};

/** Who a person is, once their password or session has been checked. */
export interface UserIdentity {
  id: string;
  name: string;
  role: Role;
}

export interface UserView {
  name: string;
  role: Role;
  createdAt: string;
  changedAt: string;
}

interface UserRow {
  id: string;
  name: string;
  role: string;
  password_hash: string;
  created_at: string;
  changed_at: string;
  removed_at: string | null;
}

/** The audit actor of a person: the same `kind:name` shape as `token:<name>`. */
export const userActor = (name: string): string => `user:${name}`;

/**
 * Account names are what people type at the login form: lower-case letters, digits and
 * `. _ - @` (an e-mail address fits), 1 to 64 characters. Given in any case, kept lower-case,
 * so `Alice` and `alice` are one person.
 */
const NAME = /^[a-z0-9][a-z0-9._@-]{0,63}$/;
const NAME_RULE = 'must be 1-64 of a-z 0-9 . _ - @, starting with a letter or digit';

export function normalizeName(name: unknown, field = 'name'): string {
  if (typeof name !== 'string') throw new UpcatError('invalid_input', `${field}: must be a string`);
  const lower = name.trim().toLowerCase();
  if (!NAME.test(lower)) throw new UpcatError('invalid_input', `${field}: ${NAME_RULE}`);
  return lower;
}

export const addInput = z.strictObject({
  name: z.string(),
  role: z.enum(ROLES, { error: `must be one of ${ROLES.join(', ')}` }),
  password: z.string(),
});

/** `POST /v1/users/:name/password` body; the password's rules are checkPassword's. */
export const passwordInput = z.strictObject({ password: z.string() });

export const roleInput = z.strictObject({
  role: z.enum(ROLES, { error: `must be one of ${ROLES.join(', ')}` }),
});

/** Removals and demotions of admins take this lock, so two at once cannot remove the last two. */
const ADMINS_LOCK = 'users:admins';

export class UserService {
  /**
   * A hash of nothing anyone knows: a login for an unknown name checks against it (same time).
   * Made on the first login, not at start: every CLI command opens the services.
   */
  private decoy: Promise<string> | undefined;

  constructor(private readonly deps: { db: Db }) {}

  async add(input: unknown, actor: string): Promise<UserView> {
    const parsed = parseWith(addInput, input, 'user');
    const name = normalizeName(parsed.name);
    const hash = await hashPassword(checkPassword(parsed.password));
    const at = new Date().toISOString();
    const row: UserRow = {
      id: randomUUID(),
      name,
      role: parsed.role,
      password_hash: hash,
      created_at: at,
      changed_at: at,
      removed_at: null,
    };
    const taken = (): Error => conflict(`a user named "${name}" already exists`);
    await this.deps.db.transaction(async (trx) => {
      if ((await this.live(trx, name)) !== undefined) throw taken();
      await trx('users')
        .insert(row)
        .catch((err: unknown) => {
          // Another add of the same name committed between our check and this insert.
          throw isUniqueViolation(err) ? taken() : err;
        });
      await audit(trx, { actor, action: 'user.add', target: name, detail: { role: row.role } });
    });
    return viewOf(row);
  }

  /** Accounts not removed, by name, from after `after`: `limit` of them. */
  async list(options: { limit?: number; after?: string } = {}): Promise<UserView[]> {
    let q = this.deps.db('users').whereNull('removed_at').orderBy('name');
    if (options.after !== undefined) q = q.where('name', '>', options.after);
    if (options.limit !== undefined) q = q.limit(options.limit);
    return ((await q) as UserRow[]).map(viewOf);
  }

  /**
   * Removes an account; its sessions end in the same transaction (site/sessions.ts checks both).
   * The last admin account is kept: without it nobody could manage people from the console.
   */
  async remove(nameIn: string, actor: string): Promise<UserView> {
    const name = normalizeName(nameIn);
    return this.deps.db.transaction(async (trx) => {
      await lockKey(trx, ADMINS_LOCK);
      const row = await this.mustFind(trx, name);
      await this.keepAnAdmin(trx, row, 'remove');
      const at = new Date().toISOString();
      await trx('users').where({ id: row.id }).update({ removed_at: at, changed_at: at });
      const ended = await endSessions(trx, row.id, at);
      await audit(trx, { actor, action: 'user.remove', target: name, detail: { sessions: ended } });
      return viewOf({ ...row, changed_at: at });
    });
  }

  /**
   * Gives an account another role. Sessions stay: each request reads the role afresh
   * (site/sessions.ts), so the change applies from the next request. The last admin keeps it.
   */
  async setRole(nameIn: string, roleIn: unknown, actor: string): Promise<UserView> {
    const name = normalizeName(nameIn);
    const { role } = parseWith(roleInput, { role: roleIn }, 'user');
    return this.deps.db.transaction(async (trx) => {
      await lockKey(trx, ADMINS_LOCK);
      const row = await this.mustFind(trx, name);
      if (row.role === role) return viewOf(row);
      if (role !== 'admin') await this.keepAnAdmin(trx, row, 'demote');
      const at = new Date().toISOString();
      await trx('users').where({ id: row.id }).update({ role, changed_at: at });
      await audit(trx, {
        actor,
        action: 'user.role',
        target: name,
        detail: { from: row.role, to: role },
      });
      return viewOf({ ...row, role, changed_at: at });
    });
  }

  /** Sets a new password; every session of the account ends (whoever held the old one is out). */
  async passwd(nameIn: string, password: unknown, actor: string): Promise<UserView> {
    const name = normalizeName(nameIn);
    const hash = await hashPassword(checkPassword(password));
    return this.deps.db.transaction(async (trx) => {
      const row = await this.mustFind(trx, name);
      const at = new Date().toISOString();
      await trx('users').where({ id: row.id }).update({ password_hash: hash, changed_at: at });
      const ended = await endSessions(trx, row.id, at);
      await audit(trx, {
        actor,
        action: 'user.passwd',
        target: name,
        detail: { sessions: ended },
      });
      return viewOf({ ...row, changed_at: at });
    });
  }

  /**
   * The account when `password` is its password; undefined otherwise. An unknown name costs
   * one scrypt as a known one does, so the time of a refusal does not tell whether it exists.
   */
  async check(nameIn: unknown, password: unknown): Promise<UserIdentity | undefined> {
    const name = typeof nameIn === 'string' ? nameIn.trim().toLowerCase() : '';
    const row = NAME.test(name) ? await this.live(this.deps.db, name) : undefined;
    const text = typeof password === 'string' ? password.slice(0, 1024) : '';
    this.decoy ??= hashPassword(randomUUID());
    const matches = await verifyPassword(text, row?.password_hash ?? (await this.decoy));
    if (row === undefined || !matches || !isRole(row.role)) return undefined;
    return { id: row.id, name: row.name, role: row.role };
  }

  /** Refuses to take away the only live admin account (callers hold ADMINS_LOCK). */
  private async keepAnAdmin(q: Q, row: UserRow, verb: 'remove' | 'demote'): Promise<void> {
    if (row.role !== 'admin') return;
    const others = (await q('users')
      .where({ role: 'admin' })
      .whereNull('removed_at')
      .whereNot({ id: row.id })
      .count({ n: '*' })
      .first()) as { n: number | string } | undefined;
    if (Number(others?.n ?? 0) === 0)
      throw conflict(
        `"${row.name}" is the last admin account; add another admin before you ${verb} it`,
      );
  }

  private async live(q: Q, name: string): Promise<UserRow | undefined> {
    return (await q('users').where({ name }).whereNull('removed_at').first()) as
      UserRow | undefined;
  }

  private async mustFind(q: Q, name: string): Promise<UserRow> {
    const row = await this.live(q, name);
    if (row === undefined) throw notFound(`no user "${name}"`);
    return row;
  }
}

/** Revokes every live session of a user; returns how many there were. */
async function endSessions(q: Q, userId: string, at: string): Promise<number> {
  return q('sessions')
    .where({ user_id: userId })
    .whereNull('revoked_at')
    .update({ revoked_at: at });
}

export function isRole(role: string): role is Role {
  return (ROLES as readonly string[]).includes(role);
}

function viewOf(r: UserRow): UserView {
  return {
    name: r.name,
    role: isRole(r.role) ? r.role : 'viewer',
    createdAt: r.created_at,
    changedAt: r.changed_at,
  };
}
