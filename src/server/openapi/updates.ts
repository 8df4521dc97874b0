import { z } from 'zod';
import { manifestSchema } from '../../catalog/manifest.js';
import { ACTIONS } from '../../site/deployments.js';
import { UPDATE_STATUSES } from '../../site/update-filters.js';
import {
  error,
  errors,
  etagged,
  isoTime,
  json,
  pagedList,
  pageQuery,
  token,
  type Registry,
} from './registry.js';

/**
 * Updates (routes/updates.ts publishes; routes/update-admin.ts lists, shows, declines;
 * routes/reports.ts expires): issue 7 and issue 14 item 1.
 */

const status = z.enum(UPDATE_STATUSES).describe('where the update stands');
const strings = z.array(z.string());

/** The filters of `GET /v1/updates`, as site/update-filters.ts checks them (unknown ones refused). */
const listQuery = z
  .strictObject({
    product: z.string().min(1).max(256).optional().describe('only this product (exact name)'),
    classification: z
      .string()
      .min(1)
      .max(256)
      .optional()
      .describe('only this classification (exact name)'),
    q: z
      .string()
      .min(1)
      .max(256)
      .optional()
      .describe("the latest revision's title contains this (any case)"),
    status: status.optional(),
    since: z
      .string()
      .optional()
      .describe('latest revision published at or after (ISO 8601 time, or a duration back: 7d)'),
  })
  .extend(pageQuery.shape);

/** The update ID (or, for the admin routes, a unique prefix of it) in the path. */
const updatePath = z.object({
  updateId: z
    .string()
    .min(1)
    .max(64)
    .describe('the update ID, or a unique prefix of it (at least 4 hex digits)'),
});

const UpdateSummary = z
  .object({
    updateId: z.string(),
    title: z.string(),
    product: z.string(),
    classification: z.string(),
    version: z.string(),
    revision: z.number().int(),
    status,
    supersededBy: z.string().nullable(),
    published: isoTime,
  })
  .meta({ id: 'UpdateSummary' });

const revision = z.object({
  revision: z.number().int(),
  title: z.string(),
  description: z.string(),
  product: z.string(),
  classification: z.string(),
  version: z.string(),
  published: isoTime,
  catalogVersion: z.number().int(),
  handler: z.record(z.string(), z.unknown()).describe('how the payload installs (the manifest)'),
  isInstalled: z.unknown().describe('JSON rule tree, or null'),
  isInstallable: z.unknown().describe('JSON rule tree, or null'),
  files: z.array(
    z.object({
      name: z.string(),
      size: z.number().int(),
      sha256: z.string(),
      sha1: z.string(),
      kind: z.string(),
    }),
  ),
  prerequisites: z.array(strings).describe('an AND of OR-groups'),
  supersedes: strings,
  bundles: strings,
});

const UpdateDetail = z
  .object({
    updateId: z.string(),
    title: z.string(),
    product: z.string(),
    classification: z.string(),
    status,
    latestRevision: z.number().int(),
    firstPublished: isoTime,
    published: isoTime,
    expiredAt: isoTime.nullable(),
    declinedAt: isoTime.nullable(),
    supersededBy: z.string().nullable(),
    namedBy: z.object({ supersedes: strings, bundles: strings, prerequisite: strings }),
    revisions: z.array(revision),
    deployments: z.array(
      z.object({
        group: z.string(),
        action: z.enum(ACTIONS),
        deadline: isoTime.nullable(),
        percent: z.number().int(),
        catalogVersion: z.number().int(),
        offered: z.boolean().describe('false unless the update is live'),
      }),
    ),
  })
  .meta({ id: 'UpdateDetail' });

const DeclineResult = z
  .object({
    updateId: z.string(),
    state: z.enum(['declined', 'active']),
    catalogVersion: z.number().int(),
    changed: z.boolean(),
    deployments: strings,
  })
  .meta({ id: 'DeclineResult' });

const ExpireResult = z
  .object({ updateId: z.string(), catalogVersion: z.number().int(), changed: z.boolean() })
  .meta({ id: 'ExpireResult' });

const PublishResult = z
  .object({
    updateId: z.string(),
    revision: z.number().int(),
    catalogVersion: z.number().int(),
    sha256: z.string(),
    sha1: z.string(),
    size: z.number().int(),
  })
  .meta({ id: 'PublishResult' });

const Manifest = manifestSchema.meta({ id: 'Manifest' });

const octets = { type: 'string', contentMediaType: 'application/octet-stream' } as const;

export function registerUpdates(registry: Registry): void {
  registry.registerPath(
    pagedList({
      path: '/v1/updates',
      operationId: 'listUpdates',
      summary: 'updates, newest published first (update ID breaking ties), filtered, keyset-paged',
      tag: 'updates',
      scope: 'read',
      query: listQuery,
      key: 'updates',
      item: UpdateSummary,
    }),
  );
  registerPublish(registry);
  registry.registerPath({
    method: 'get',
    path: '/v1/updates/{updateId}',
    operationId: 'showUpdate',
    summary: 'one update: every revision with files, rules, relationships; its deployments',
    tags: ['updates'],
    security: token('read'),
    request: { params: updatePath },
    responses: {
      ...etagged('the update', UpdateDetail),
      '400': error('invalid_input: not an ID, or an ambiguous prefix'),
      ...errors('401', '403', '404'),
    },
  });
  const change = (to: 'decline' | 'undecline', summary: string): void =>
    registry.registerPath({
      method: 'post',
      path: `/v1/updates/{updateId}/${to}`,
      operationId: `${to}Update`,
      summary,
      tags: ['updates'],
      security: token('publish'),
      request: { params: updatePath },
      responses: {
        '200': {
          description: `${to}d (changed: false when it already was)`,
          content: json(DeclineResult),
        },
        '400': error('invalid_input: not an ID, or an ambiguous prefix'),
        ...errors('401', '403', '404'),
        '409': error('conflict: the update is expired (expiry is final)'),
      },
    });
  change(
    'decline',
    'stop offering an update (out of every policy and the signed catalog, not deployable) until undeclined; its deployments stay stored, inert',
  );
  change('undecline', 'offer a declined update again, with the deployments it had');
  registry.registerPath({
    method: 'post',
    path: '/v1/updates/{updateId}/expire',
    operationId: 'expire',
    summary: 'withdraw an update from the catalog (final)',
    tags: ['updates'],
    security: token('publish'),
    request: {
      params: z.object({ updateId: z.string().min(1).max(64).describe('the update ID') }),
    },
    responses: {
      '200': { description: 'expired (or already was)', content: json(ExpireResult) },
      ...errors('400', '401', '403', '404'),
    },
  });
}

/** `POST /v1/updates`: a streamed upload, in a multipart form or as the raw payload. */
function registerPublish(registry: Registry): void {
  registry.registerPath({
    method: 'post',
    path: '/v1/updates',
    operationId: 'publish',
    summary:
      'publish a revision, streamed: a multipart form (manifest part, then payload file part), or the raw payload with the manifest in Upcat-Manifest',
    tags: ['updates'],
    security: token('publish'),
    request: {
      headers: z.object({
        'Idempotency-Key': z
          .string()
          .regex(/^[!-~]{1,255}$/)
          .optional()
          .describe('a retry with the same key gets the first answer instead of publishing twice'),
        'Upcat-Manifest': z
          .string()
          .optional()
          .describe(
            'raw body form (application/octet-stream) only, and required there: the manifest JSON, base64; a manifest too large for a header goes in a multipart form',
          ),
      }),
      query: z.object({
        fileName: z
          .string()
          .optional()
          .describe(
            'raw body form only, and required there: the payload file name (one path segment)',
          ),
      }),
      body: {
        required: true,
        content: {
          'multipart/form-data': {
            schema: z.object({ manifest: Manifest, payload: z.string() }),
            encoding: {
              manifest: { contentType: 'application/json' },
              payload: { contentType: 'application/octet-stream' },
            },
          },
          'application/octet-stream': { schema: octets },
        },
      },
    },
    responses: {
      '201': { description: 'published', content: json(PublishResult) },
      '200': {
        description:
          'the same revision was already published (or a retry with the Idempotency-Key of a finished publish: its first answer)',
        content: json(PublishResult),
      },
      ...errors('400', '401', '403'),
      '409': error(
        'conflict (other bytes under a published product and version; a site without signing keys), or in_progress: a request with this Idempotency-Key is still running: retry later',
      ),
      '413': error(
        'too_large: the declared or streamed payload or manifest is over the limit. A refusal that comes before a large body is read says Connection: close, and the rest of the body is not read',
      ),
      '422': error(
        'idempotency_mismatch: the Idempotency-Key was used for another manifest, file name or payload',
      ),
      '500': error('internal (see the server log) or integrity'),
    },
  });
}
