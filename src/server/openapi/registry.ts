import type { OpenAPIRegistry, ResponseConfig, RouteConfig } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import { DEFAULT_PAGE, MAX_PAGE } from '../paging.js';

/**
 * What every area module of the OpenAPI document (src/server/openapi/<area>.ts) shares: the
 * registry type, the error body, the security requirements and the paging parameters.
 *
 * An area module exports `register<Area>(registry)`, which calls `registry.registerPath` once
 * per route its routes module serves, with the zod schemas the route validates with (request
 * body, query, path) and zod schemas of its answers; index.ts calls every area's function.
 * test/integration/openapi.test.ts fails when a route is served and not registered, or the
 * reverse, method by method.
 */

/*
 * Components are named with zod's own `.meta({ id: 'Name' })` and fields described with
 * `.describe()`, not the library's `.openapi()`: that needs zod's prototype extended before a
 * schema is made, and the schemas the routes validate with (src/site/*.ts) are made first.
 */

export type Registry = OpenAPIRegistry;
export type Route = RouteConfig;
export type Responses = Record<string, ResponseConfig>;

/** `{ 'application/json': { schema } }`, the content of most bodies and answers. */
export function json(schema: z.ZodType): NonNullable<ResponseConfig['content']> {
  return { 'application/json': { schema } };
}

/** A required JSON request body. */
export function jsonBody(schema: z.ZodType): NonNullable<Route['request']>['body'] {
  return { required: true, content: json(schema) };
}

export const ErrorBody = z
  .object({
    error: z.object({
      code: z.string().describe('a stable code (src/errors.ts)'),
      message: z.string().describe('one line for a person'),
    }),
  })
  .meta({ id: 'Error' });

const ERRORS: Record<string, string> = {
  '400': 'invalid_input: the message names the field or parameter',
  '401':
    'unauthorized: no credentials, or unknown, expired or revoked ones; client_replaced: a newer registration of the machine replaced this record (register again)',
  '403':
    'forbidden (wrong token scope or role, or a session change without X-CSRF-Token), client_blocked, or certificate_required (native mode: a secret on sync or status)',
  '404': 'not_found',
  '408':
    'request_timeout: the body did not arrive in time (server.bodyTimeoutMs, server.minBodyBytesPerSecond)',
  '409': 'conflict: the request contradicts what is stored',
  '413': 'too_large',
  '416': 'range_not_satisfiable: the Range lies outside the file',
  '429': 'rate_limited',
};

/** The error answers an operation can give, each with the error body. */
export function errors(...statuses: Array<keyof typeof ERRORS>): Responses {
  const out: Responses = {};
  for (const s of statuses)
    out[s] = { description: ERRORS[s] ?? 'error', content: json(ErrorBody) };
  return out;
}

/** One error answer with its own description. */
export function error(description: string): ResponseConfig {
  return { description, content: json(ErrorBody) };
}

export type Scope = 'read' | 'publish' | 'approve' | 'admin';

/**
 * An API token of `scope`, or a person's session whose role carries it (middleware/token-auth.ts
 * takes either; the sessionCookie scheme says which role holds which scope).
 */
export function token(scope: Scope): Array<Record<string, string[]>> {
  return [{ apiToken: [scope] }, { sessionCookie: [scope] }];
}

/** What endpoints present: the secret of their registration, or (native mode) a certificate. */
export const CLIENT_AUTH: Array<Record<string, string[]>> = [
  { clientSecret: [] },
  { clientCertificate: [] },
];

/** `limit` and `cursor` of every keyset-paged list (server/paging.ts). */
export const pageQuery = z.object({
  limit: z
    .string()
    .regex(/^\d{1,4}$/)
    .optional()
    .describe(`at most this many, 1 to ${MAX_PAGE} (default ${DEFAULT_PAGE})`),
  cursor: z.string().max(1024).optional().describe('the `next` of the previous page'),
});

/** A page of a list: its items under `key` and the cursor of the next page (null on the last). */
export function pageOf<K extends string>(
  key: K,
  item: z.ZodType,
): z.ZodObject<Record<K, z.ZodArray<z.ZodType>> & { next: z.ZodNullable<z.ZodString> }> {
  return z.object({
    [key]: z.array(item),
    next: z.string().nullable().describe('the cursor of the next page; null on the last'),
  } as Record<K, z.ZodArray<z.ZodType>> & { next: z.ZodNullable<z.ZodString> });
}

/** 200 with an ETag (server/paging.ts sendJsonWithEtag) and 304 for a matching If-None-Match. */
export function etagged(description: string, schema: z.ZodType): Responses {
  return {
    '200': {
      description,
      headers: z.object({
        ETag: z.string().describe('a strong validator of the body; send it back in If-None-Match'),
      }),
      content: json(schema),
    },
    '304': { description: 'not modified (If-None-Match)' },
  };
}

/** A path parameter: a string, described. */
export const pathText = (description: string, max = 64): z.ZodString =>
  z.string().min(1).max(max).describe(description);

/** `true` or `false` in a query string. */
export const trueFalse = z.enum(['true', 'false']);

/** An ISO 8601 time as the API writes it. */
export const isoTime = z.string().describe('an ISO 8601 time');

/** A keyset-paged list: `GET path` answering `{<key>: [item], next}` with an ETag. */
export function pagedList(list: {
  path: string;
  operationId: string;
  summary: string;
  description?: string;
  tag: string;
  scope: Scope;
  query: z.ZodObject;
  key: string;
  item: z.ZodType;
}): Route {
  return {
    method: 'get',
    path: list.path,
    operationId: list.operationId,
    summary: list.summary,
    ...(list.description === undefined ? {} : { description: list.description }),
    tags: [list.tag],
    security: token(list.scope),
    request: { query: list.query },
    responses: {
      ...etagged(`a page of ${list.key}`, pageOf(list.key, list.item)),
      ...errors('400', '401', '403'),
    },
  };
}
