import type { JsonSchema, Operation, PathItem, ResponseObject } from './openapi.js';

/**
 * The OpenAPI part of people's accounts and sessions (issue 14 item 4; routes/sessions.ts,
 * routes/users.ts), spread into the main document (openapi.ts).
 */
export const SESSION_COOKIE_SCHEME = {
  type: 'apiKey',
  in: 'cookie',
  name: 'upcat_session',
  description:
    "A person's session (POST /v1/session), with the role's scope: admin -> admin, operator -> approve, viewer -> read. Every POST, PUT, PATCH or DELETE made with it must carry the header X-CSRF-Token (from the login answer or GET /v1/session), else 403.",
} as const;

const body = (schema: JsonSchema): Record<string, { schema: JsonSchema }> => ({
  'application/json': { schema },
});
const failure = (description: string): ResponseObject => ({
  description,
  content: body({ $ref: '#/components/schemas/Error' }),
});
const str: JsonSchema = { type: 'string' };
const ROLE: JsonSchema = { enum: ['admin', 'operator', 'viewer'] };
const USER: JsonSchema = {
  type: 'object',
  properties: {
    name: str,
    role: ROLE,
    createdAt: str,
    changedAt: str,
  },
  required: ['name', 'role', 'createdAt', 'changedAt'],
};
const WHO: JsonSchema = {
  type: 'object',
  properties: {
    user: {
      type: 'object',
      properties: { name: str, role: ROLE },
      required: ['name', 'role'],
    },
    csrfToken: { type: 'string', description: 'send as X-CSRF-Token on every change' },
  },
  required: ['user', 'csrfToken'],
};
const PASSWORD: JsonSchema = {
  type: 'string',
  minLength: 10,
  maxLength: 1024,
  description: 'no control characters',
};
const NAME = {
  name: 'name',
  in: 'path' as const,
  required: true,
  description: 'the account name',
  schema: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$' },
};
const ADMIN: Array<Record<string, string[]>> = [
  { apiToken: ['admin'] },
  { sessionCookie: ['admin'] },
];
const E401 = failure('unauthorized: no credentials, or dead ones');
const E403 = failure('forbidden: the role or scope is not admin, or the CSRF token is missing');

function adminOp(op: Omit<Operation, 'tags' | 'security'>): Operation {
  return { tags: ['users'], security: ADMIN, ...op };
}

export function sessionPaths(): Record<string, PathItem> {
  return {
    '/v1/session': {
      post: {
        operationId: 'login',
        summary:
          'log in: sets the upcat_session cookie (HttpOnly, SameSite=Strict, Secure on HTTPS)',
        tags: ['users'],
        requestBody: {
          required: true,
          content: body({
            type: 'object',
            properties: { name: str, password: str },
            required: ['name', 'password'],
          }),
        },
        responses: {
          '200': { description: 'logged in', content: body(WHO) },
          '400': failure('invalid_input: name or password missing'),
          '401': failure('unauthorized: wrong name or password (one answer for both)'),
          '429': failure(
            'rate_limited: too many attempts from this address or for this account (Retry-After)',
          ),
        },
      },
      get: {
        operationId: 'whoAmI',
        summary: 'who holds the session cookie, and its CSRF token',
        tags: ['users'],
        security: [{ sessionCookie: [] }],
        responses: { '200': { description: 'the session', content: body(WHO) }, '401': E401 },
      },
      delete: {
        operationId: 'logout',
        summary: 'log out: ends the session and clears the cookie',
        tags: ['users'],
        security: [{ sessionCookie: [] }],
        responses: {
          '204': { description: 'logged out' },
          '403': failure('forbidden: CSRF token missing'),
        },
      },
    },
    '/v1/users': {
      get: adminOp({
        operationId: 'listUsers',
        summary: 'accounts, by name (keyset paging: limit, cursor; ETag)',
        parameters: [
          {
            name: 'limit',
            in: 'query',
            description: '1 to 1000 (default 100)',
            schema: { type: 'integer', minimum: 1, maximum: 1000 },
          },
          {
            name: 'cursor',
            in: 'query',
            description: 'the next of the previous page',
            schema: str,
          },
        ],
        responses: {
          '200': {
            description: 'a page',
            content: body({
              type: 'object',
              properties: {
                users: { type: 'array', items: USER },
                next: { anyOf: [str, { type: 'null' }] },
              },
              required: ['users', 'next'],
            }),
          },
          '304': { description: 'not modified (If-None-Match)' },
          '400': failure('invalid_input: limit or cursor'),
          '401': E401,
          '403': E403,
        },
      }),
      post: adminOp({
        operationId: 'addUser',
        summary: 'add an account',
        requestBody: {
          required: true,
          content: body({
            type: 'object',
            properties: { name: str, role: ROLE, password: PASSWORD },
            required: ['name', 'role', 'password'],
            additionalProperties: false,
          }),
        },
        responses: {
          '201': { description: 'the account', content: body(USER) },
          '400': failure('invalid_input: the message names the field'),
          '401': E401,
          '403': E403,
          '409': failure('conflict: the name is taken'),
        },
      }),
    },
    '/v1/users/{name}': {
      parameters: [NAME],
      delete: adminOp({
        operationId: 'removeUser',
        summary: 'remove an account; its sessions end at once',
        responses: {
          '200': { description: 'the removed account', content: body(USER) },
          '401': E401,
          '403': E403,
          '404': failure('not_found'),
          '409': failure('conflict: the last admin account'),
        },
      }),
      patch: adminOp({
        operationId: 'setUserRole',
        summary: "change an account's role; it applies from the account's next request",
        requestBody: {
          required: true,
          content: body({
            type: 'object',
            properties: { role: { type: 'string', enum: ['admin', 'operator', 'viewer'] } },
            required: ['role'],
            additionalProperties: false,
          }),
        },
        responses: {
          '200': { description: 'the account', content: body(USER) },
          '400': failure('invalid_input: not a role'),
          '401': E401,
          '403': E403,
          '404': failure('not_found'),
          '409': failure('conflict: the last admin account'),
        },
      }),
    },
    '/v1/users/{name}/password': {
      parameters: [NAME],
      post: adminOp({
        operationId: 'setUserPassword',
        summary: "set an account's password; its sessions end",
        requestBody: {
          required: true,
          content: body({
            type: 'object',
            properties: { password: PASSWORD },
            required: ['password'],
            additionalProperties: false,
          }),
        },
        responses: {
          '200': { description: 'the account', content: body(USER) },
          '400': failure('invalid_input: the password breaks the policy'),
          '401': E401,
          '403': E403,
          '404': failure('not_found'),
        },
      }),
    },
  };
}
