import { z } from 'zod';
import { createInput } from '../../site/tokens.js';
import {
  errors,
  isoTime,
  json,
  jsonBody,
  pagedList,
  pageQuery,
  token,
  type Registry,
} from './registry.js';

/** API tokens over HTTP (routes/tokens.ts; issue 14 item 1), admin only. */

const Token = z
  .object({
    id: z.string(),
    name: z.string(),
    scope: z.string().describe('read, publish, approve, admin, or enroll (registration)'),
    createdAt: isoTime,
    expiresAt: isoTime.nullable(),
    revokedAt: isoTime.nullable(),
    lastUsedAt: isoTime.nullable(),
    state: z.enum(['active', 'expired', 'revoked']),
  })
  .meta({ id: 'Token' });

const Created = z.object({
  id: z.string(),
  name: z.string(),
  scope: z.string(),
  token: z.string().describe('the secret: in this answer only (Cache-Control: no-store)'),
  expiresAt: isoTime.nullable(),
});

export function registerTokens(registry: Registry): void {
  registry.registerPath(
    pagedList({
      path: '/v1/tokens',
      operationId: 'listTokens',
      summary: 'API tokens in creation order (never a secret or a hash)',
      tag: 'tokens',
      scope: 'admin',
      query: pageQuery.strict(),
      key: 'tokens',
      item: Token,
    }),
  );
  registry.registerPath({
    method: 'post',
    path: '/v1/tokens',
    operationId: 'createToken',
    summary: 'create a token; its secret is in this answer only',
    description: 'expiresIn: a lifetime such as 90d or 12h; without it the token does not expire.',
    tags: ['tokens'],
    security: token('admin'),
    request: { body: jsonBody(createInput) },
    responses: {
      '201': { description: 'the token and its secret', content: json(Created) },
      ...errors('400', '401', '403', '409'),
    },
  });
  registry.registerPath({
    method: 'delete',
    path: '/v1/tokens/{tokenId}',
    operationId: 'revokeToken',
    summary: 'revoke a token (by id, or by its name when one live token has it)',
    tags: ['tokens'],
    security: token('admin'),
    request: {
      params: z.object({ tokenId: z.string().min(1).max(128).describe('the token id or name') }),
    },
    responses: {
      '200': { description: 'the revoked token', content: json(Token) },
      ...errors('400', '401', '403', '404', '409'),
    },
  });
}
