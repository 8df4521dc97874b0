import type { JsonSchema, Operation, Parameter, PathItem, ResponseObject } from './openapi.js';
import { UPDATE_STATUSES } from '../site/update-filters.js';

/**
 * The OpenAPI part of the updates admin API (issue 14 item 1; routes/update-admin.ts), kept
 * beside the main document (openapi.ts), which spreads it in.
 */
const str: JsonSchema = { type: 'string' };
const int: JsonSchema = { type: 'integer' };
const strings: JsonSchema = { type: 'array', items: str };
const ref = (name: string): JsonSchema => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: JsonSchema): Record<string, { schema: JsonSchema }> => ({
  'application/json': { schema },
});
const object = (properties: Record<string, JsonSchema>): JsonSchema => ({
  type: 'object',
  properties,
  required: Object.keys(properties),
});
const nullable = (schema: JsonSchema): JsonSchema => ({ anyOf: [schema, { type: 'null' }] });
const error = (description: string): ResponseObject => ({
  description,
  content: json(ref('Error')),
});
const ERRORS: Record<string, ResponseObject> = {
  '401': error('unauthorized: no token, or an unknown, expired or revoked one'),
  '403': error('forbidden: the token lacks the scope'),
};
const STATUS: JsonSchema = { enum: [...UPDATE_STATUSES] };
const query = (name: string, description: string, schema: JsonSchema = str): Parameter => ({
  name,
  in: 'query',
  description,
  schema,
});
const UPDATE_ID: Parameter = {
  name: 'updateId',
  in: 'path',
  required: true,
  description: 'the update ID, or a unique prefix of it (at least 4 hex digits)',
  schema: { type: 'string', pattern: '^[0-9a-fA-F-]{4,36}$' },
};
const etagged = (description: string, schema: JsonSchema): Record<string, ResponseObject> => ({
  '200': {
    description,
    headers: { ETag: { description: 'send it back in If-None-Match', schema: str } },
    content: json(schema),
  },
  '304': { description: 'not modified (If-None-Match)' },
});

export function updateAdminSchemas(): Record<string, JsonSchema> {
  const revision = object({
    revision: int,
    title: str,
    description: str,
    product: str,
    classification: str,
    version: str,
    published: str,
    catalogVersion: int,
    handler: { type: 'object' },
    isInstalled: { description: 'JSON rule tree, or null' },
    isInstallable: { description: 'JSON rule tree, or null' },
    files: {
      type: 'array',
      items: object({ name: str, size: int, sha256: str, sha1: str, kind: str }),
    },
    prerequisites: { type: 'array', items: strings, description: 'an AND of OR-groups' },
    supersedes: strings,
    bundles: strings,
  });
  return {
    UpdateSummary: object({
      updateId: str,
      title: str,
      product: str,
      classification: str,
      version: str,
      revision: int,
      status: STATUS,
      supersededBy: nullable(str),
      published: str,
    }),
    UpdateDetail: object({
      updateId: str,
      title: str,
      product: str,
      classification: str,
      status: STATUS,
      latestRevision: int,
      firstPublished: str,
      published: str,
      expiredAt: nullable(str),
      declinedAt: nullable(str),
      supersededBy: nullable(str),
      namedBy: object({ supersedes: strings, bundles: strings, prerequisite: strings }),
      revisions: { type: 'array', items: revision },
      deployments: {
        type: 'array',
        items: object({
          group: str,
          action: { enum: ['install', 'uninstall', 'optional'] },
          deadline: nullable(str),
          percent: int,
          catalogVersion: int,
          offered: { type: 'boolean', description: 'false unless the update is live' },
        }),
      },
    }),
    DeclineResult: object({
      updateId: str,
      state: { enum: ['declined', 'active'] },
      catalogVersion: int,
      changed: { type: 'boolean' },
      deployments: strings,
    }),
  };
}

/** `GET /v1/updates`: beside `post` (publishing) under the same path in openapi.ts. */
export function listUpdatesOperation(): Operation {
  return {
    operationId: 'listUpdates',
    summary: 'updates, newest published first (update ID breaking ties), filtered, keyset-paged',
    tags: ['admin'],
    security: [{ apiToken: ['read'] }],
    parameters: [
      query('product', 'only this product (exact name)'),
      query('classification', 'only this classification (exact name)'),
      query('q', "the latest revision's title contains this (any case)"),
      query('status', 'where the update stands', STATUS),
      query('since', 'latest revision published at or after (ISO 8601 time, or 7d)'),
      query('limit', 'at most this many (default 100)', {
        type: 'integer',
        minimum: 1,
        maximum: 1000,
      }),
      query('cursor', 'the `next` of the previous page'),
    ],
    responses: {
      ...etagged(
        'a page of updates',
        object({ updates: { type: 'array', items: ref('UpdateSummary') }, next: nullable(str) }),
      ),
      '400': error('invalid_input: the message names the parameter (an unknown one included)'),
      ...ERRORS,
    },
  };
}

export function updateAdminPaths(): Record<string, PathItem> {
  const change = (to: 'decline' | 'undecline', summary: string): PathItem => ({
    post: {
      operationId: `${to}Update`,
      summary,
      tags: ['release'],
      security: [{ apiToken: ['publish'] }],
      parameters: [UPDATE_ID],
      responses: {
        '200': {
          description: `${to}d (changed: false when it already was)`,
          content: json(ref('DeclineResult')),
        },
        '400': error('invalid_input: not an ID, or an ambiguous prefix'),
        ...ERRORS,
        '404': error('not_found'),
        '409': error('conflict: the update is expired (expiry is final)'),
      },
    },
  });
  return {
    '/v1/updates/{updateId}': {
      get: {
        operationId: 'showUpdate',
        summary: 'one update: every revision with files, rules, relationships; its deployments',
        tags: ['admin'],
        security: [{ apiToken: ['read'] }],
        parameters: [UPDATE_ID],
        responses: {
          ...etagged('the update', ref('UpdateDetail')),
          '400': error('invalid_input: not an ID, or an ambiguous prefix'),
          ...ERRORS,
          '404': error('not_found'),
        },
      },
    },
    '/v1/updates/{updateId}/decline': change(
      'decline',
      'stop offering an update (out of every policy and the signed catalog, not deployable) until undeclined; its deployments stay stored, inert',
    ),
    '/v1/updates/{updateId}/undecline': change(
      'undecline',
      'offer a declined update again, with the deployments it had',
    ),
  };
}
