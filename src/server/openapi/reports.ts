import { z } from 'zod';
import { BUCKETS } from '../../site/report-history.js';
import { HistoryEntry, clientRef } from './clients.js';
import { errors, isoTime, token, type Registry, type Route } from './registry.js';

/**
 * Reports (routes/reports.ts; issues 5 and 14): each as JSON `{<key>: rows}`, or as CSV (RFC
 * 4180, a header row, an attachment named upcat-<report>.csv) for `?format=csv` or
 * `Accept: text/csv` (server/report-format.ts). Any token may read them.
 */

const format = z
  .enum(['csv', 'json'])
  .optional()
  .describe('csv or json; without it, the Accept header decides (JSON first)');

const count = z.number().int();

const RevisionReport = z
  .object({
    updateId: z.string(),
    revision: count,
    group: z.string().describe('the group of the deployment this row counts'),
    title: z.string(),
    status: z.enum(['active', 'superseded', 'expired', 'declined']),
    installed: count.describe('installed by the agent'),
    alreadyInstalled: count.describe('found installed already: nothing ran'),
    uninstalled: count,
    failed: count,
    pending: count.describe('targeted, with no final state reported yet'),
    notApplicable: count,
  })
  .meta({ id: 'RevisionReport' });

const HistoryPoint = z
  .object({
    updateId: z.string(),
    revision: count,
    at: isoTime.describe('the end of the bucket (exclusive); the last point ends now'),
    installed: count.describe('installed by the agent, or found installed already'),
    failed: count,
    pending: count.describe('targeted, with no final state yet at `at`'),
    notApplicable: count,
    targeted: count,
  })
  .meta({ id: 'HistoryPoint' });

const StaleClient = z.object({
  clientId: z.string(),
  name: z.string(),
  hardwareId: z.string(),
  lastContact: isoTime.nullable(),
});

const InstallFailure = z.object({
  hardwareId: z.string().nullable(),
  name: z.string().nullable(),
  source: z.string().nullable(),
  code: z.number().int().nullable(),
  detail: z.string().nullable(),
  failures: count,
  lastAt: isoTime,
});

/** One report route: JSON rows under `key`, or CSV. */
function report(
  path: string,
  operationId: string,
  summary: string,
  key: string,
  row: z.ZodType,
  request: { params?: z.ZodObject; query?: z.ZodObject } = {},
): Route {
  return {
    method: 'get',
    path,
    operationId,
    summary,
    tags: ['reports'],
    security: token('read'),
    request: { ...request, query: (request.query ?? z.object({})).extend({ format }) },
    responses: {
      '200': {
        description: `${summary}; as CSV, an attachment named upcat-<report>.csv`,
        content: {
          'application/json': { schema: z.object({ [key]: z.array(row) }) },
          'text/csv': { schema: z.string() },
        },
      },
      ...errors('400', '401', '403', '404'),
    },
  };
}

export function registerReports(registry: Registry): void {
  registry.registerPath(
    report(
      '/v1/reports/revisions',
      'reportRevisions',
      'per deployed revision and group: status; installed, already installed, uninstalled, failed, pending, not applicable',
      'revisions',
      RevisionReport,
    ),
  );
  registry.registerPath(
    report(
      '/v1/reports/clients/{clientId}/history',
      'reportClientHistory',
      "a client's state messages, newest first",
      'history',
      HistoryEntry,
      { params: clientRef },
    ),
  );
  registry.registerPath(
    report(
      '/v1/reports/history',
      'reportRevisionHistory',
      "a revision's installed / failed / pending per hour or day, over the clients its deployments target today",
      'points',
      HistoryPoint,
      {
        query: z.strictObject({
          updateId: z
            .string()
            .regex(/^[0-9a-fA-F-]{36}$/)
            .describe('the update (GUID)'),
          revision: z
            .string()
            .regex(/^[1-9]\d{0,8}$/)
            .optional()
            .describe("default: the update's latest revision"),
          group: z
            .string()
            .max(255)
            .optional()
            .describe('only the clients the deployment to this group targets'),
          bucket: z.enum(BUCKETS).optional().describe('default day'),
          since: z
            .string()
            .optional()
            .describe(
              'an ISO time or a duration back from now (7d); default 48h for hours, 30d for days',
            ),
        }),
      },
    ),
  );
  registry.registerPath(
    report(
      '/v1/reports/stale',
      'reportStale',
      'clients not seen for N days',
      'clients',
      StaleClient,
      {
        query: z.object({
          days: z
            .string()
            .regex(/^\d{1,5}$/)
            .optional()
            .describe('days without contact, 1 or more (default 30)'),
        }),
      },
    ),
  );
  registry.registerPath(
    report(
      '/v1/reports/client-install-failures',
      'reportClientInstallFailures',
      'endpoints that reported a failed client install to the fallback status point',
      'endpoints',
      InstallFailure,
    ),
  );
}
