import { z } from 'zod';
import { AUDIT_DEFAULT_LIMIT, AUDIT_MAX_LIMIT } from '../../site/audit.js';
import { errors, isoTime, json, token, type Registry } from './registry.js';

/** The audit log (routes/reports.ts `GET /v1/audit`; site/audit.ts). */

/** The query as the route reads it: each at most once, numbers as digits. */
const auditQuery = z.object({
  since: z.string().optional().describe('an ISO 8601 time, or a duration back from now (7d, 12h)'),
  limit: z
    .string()
    .regex(/^\d{1,6}$/)
    .optional()
    .describe(
      `at most this many, the newest (default ${AUDIT_DEFAULT_LIMIT}, at most ${AUDIT_MAX_LIMIT})`,
    ),
  before: z
    .string()
    .regex(/^\d{1,15}$/)
    .optional()
    .describe('only entries older than this id (the next page: next.before)'),
});

const AuditEntry = z
  .object({
    id: z.number().int(),
    at: isoTime,
    actor: z.string().describe('token:<name>, user:<name>, cli:<os user> or client:<id>'),
    tokenId: z
      .string()
      .nullable()
      .describe('the id of the token behind a token:<name> actor (names can be reused)'),
    action: z.string(),
    target: z.string().nullable(),
    detail: z.unknown(),
    source: z.string().nullable().describe('the caller address, or cli'),
  })
  .meta({ id: 'AuditEntry' });

const AuditPage = z.object({
  entries: z.array(AuditEntry),
  truncated: z.boolean().describe('older entries match too'),
  next: z.object({ before: z.number().int() }).nullable().describe('the query for them'),
});

export function registerAudit(registry: Registry): void {
  registry.registerPath({
    method: 'get',
    path: '/v1/audit',
    operationId: 'audit',
    summary: 'the audit log: the newest entries that match, oldest first',
    tags: ['audit'],
    security: token('admin'),
    request: { query: auditQuery },
    responses: {
      '200': { description: 'a page of entries', content: json(AuditPage) },
      ...errors('400', '401', '403'),
    },
  });
}
