import { z } from 'zod';
import { PASSWORD_MAX, PASSWORD_MIN } from '../../site/passwords.js';
import { loginInput } from '../../site/sessions.js';
import { ROLES, addInput, passwordInput, roleInput } from '../../site/users.js';
import {
  error,
  errors,
  isoTime,
  json,
  jsonBody,
  pagedList,
  pageQuery,
  token,
  type Registry,
} from './registry.js';

/**
 * People's login sessions and accounts (routes/sessions.ts, routes/users.ts; issue 14 item 4).
 * Account bodies are site/users.ts's zod schemas; names and passwords are then checked by
 * normalizeName and checkPassword, whose rules the descriptions give.
 */

const role = z.enum(ROLES);

const User = z
  .object({ name: z.string(), role, createdAt: isoTime, changedAt: isoTime })
  .meta({ id: 'User' });

const Session = z
  .object({
    user: z.object({ name: z.string(), role }),
    csrfToken: z.string().describe('send as X-CSRF-Token on every change'),
  })
  .meta({ id: 'Session' });

const namePath = z.object({
  name: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/)
    .describe('the account name (any case)'),
});

export function registerUsers(registry: Registry): void {
  registerSession(registry);
  const admin = token('admin');
  registry.registerPath(
    pagedList({
      path: '/v1/users',
      operationId: 'listUsers',
      summary: 'accounts, by name (keyset pages, ETag)',
      tag: 'users',
      scope: 'admin',
      query: pageQuery,
      key: 'users',
      item: User,
    }),
  );
  registry.registerPath({
    method: 'post',
    path: '/v1/users',
    operationId: 'addUser',
    summary: 'add an account',
    description: `name: 1-64 of a-z 0-9 . _ - @, starting with a letter or digit (stored in lower case); password: ${PASSWORD_MIN} to ${PASSWORD_MAX} characters, no control characters.`,
    tags: ['users'],
    security: admin,
    request: { body: jsonBody(addInput) },
    responses: {
      '201': { description: 'the account', content: json(User) },
      ...errors('400', '401', '403'),
      '409': error('conflict: the name is taken'),
    },
  });
  registry.registerPath({
    method: 'patch',
    path: '/v1/users/{name}',
    operationId: 'setUserRole',
    summary: "change an account's role; it applies from the account's next request",
    tags: ['users'],
    security: admin,
    request: { params: namePath, body: jsonBody(roleInput) },
    responses: {
      '200': { description: 'the account', content: json(User) },
      ...errors('400', '401', '403', '404'),
      '409': error('conflict: the last admin account'),
    },
  });
  registry.registerPath({
    method: 'delete',
    path: '/v1/users/{name}',
    operationId: 'removeUser',
    summary: 'remove an account; its sessions end at once',
    tags: ['users'],
    security: admin,
    request: { params: namePath },
    responses: {
      '200': { description: 'the removed account', content: json(User) },
      ...errors('400', '401', '403', '404'),
      '409': error('conflict: the last admin account'),
    },
  });
  registry.registerPath({
    method: 'post',
    path: '/v1/users/{name}/password',
    operationId: 'setUserPassword',
    summary: "set an account's password; its sessions end",
    description: `password: ${PASSWORD_MIN} to ${PASSWORD_MAX} characters, no control characters.`,
    tags: ['users'],
    security: admin,
    request: { params: namePath, body: jsonBody(passwordInput) },
    responses: {
      '200': { description: 'the account', content: json(User) },
      '400': error('invalid_input: the password breaks the policy'),
      ...errors('401', '403', '404'),
    },
  });
}

function registerSession(registry: Registry): void {
  registry.registerPath({
    method: 'post',
    path: '/v1/session',
    operationId: 'login',
    summary: 'log in: sets the upcat_session cookie (HttpOnly, SameSite=Strict, Secure on HTTPS)',
    tags: ['users'],
    request: { body: jsonBody(loginInput) },
    responses: {
      '200': { description: 'logged in', content: json(Session) },
      '400': error('invalid_input: name or password missing'),
      '401': error('unauthorized: wrong name or password (one answer for both)'),
      '429': error(
        'rate_limited: too many attempts from this address or for this account (Retry-After)',
      ),
    },
  });
  registry.registerPath({
    method: 'get',
    path: '/v1/session',
    operationId: 'whoAmI',
    summary: 'who holds the session cookie, and its CSRF token',
    tags: ['users'],
    security: [{ sessionCookie: [] }],
    responses: { '200': { description: 'the session', content: json(Session) }, ...errors('401') },
  });
  registry.registerPath({
    method: 'delete',
    path: '/v1/session',
    operationId: 'logout',
    summary: 'log out: ends the session and clears the cookie',
    tags: ['users'],
    security: [{ sessionCookie: [] }],
    request: {
      headers: z.object({
        'X-CSRF-Token': z.string().optional().describe('required while the session is live'),
      }),
    },
    responses: {
      '204': { description: 'logged out' },
      '403': error('forbidden: CSRF token missing'),
    },
  });
}
