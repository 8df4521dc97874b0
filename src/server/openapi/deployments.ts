import { z } from 'zod';
import { querySchema as deploymentQuerySchema } from '../../site/deployment-list.js';
import { ACTIONS, deploymentChangeSchema, deploymentSchema } from '../../site/deployments.js';
import { promotionSchema } from '../../site/promote.js';
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

/**
 * Deployments and promotions (routes/deployments.ts; routes/reports.ts creates deployments and
 * promotes; issue 5 item 7, issue 14 item 1). Bodies and the list's filters are the zod schemas
 * of site/deployments.ts, site/deployment-list.ts and site/promote.ts.
 */

const Deployment = z
  .object({
    id: z.number().int().describe('what PATCH and DELETE /v1/deployments/{id} name'),
    updateId: z.string(),
    group: z.string(),
    action: z.enum(ACTIONS),
    deadline: isoTime.nullable(),
    percent: z.number().int(),
    catalogVersion: z.number().int(),
  })
  .meta({ id: 'Deployment' });

const Promotion = Deployment.extend({
  from: z.string(),
  evidence: z
    .looseObject({
      revision: z.number().int(),
      installed: z.number().int(),
      failed: z.number().int(),
      reporting: z.number().int(),
      notApplicable: z.number().int(),
      successRate: z.number(),
      minSuccess: z.number(),
    })
    .describe('the figures the promotion was judged on'),
}).meta({ id: 'Promotion' });

/** The list's filters: site/deployment-list.ts's schema, whose limit and cursor paging.ts reads. */
function listQuery(): z.ZodObject {
  const filters = deploymentQuerySchema();
  if (!(filters instanceof z.ZodObject)) throw new Error('deployments query: not an object schema');
  return filters.extend(pageQuery.shape);
}

const idPath = z.object({
  id: z
    .string()
    .regex(/^\d{1,10}$/)
    .describe('the deployment ID'),
});

export function registerDeployments(registry: Registry): void {
  registry.registerPath(
    pagedList({
      path: '/v1/deployments',
      operationId: 'listDeployments',
      summary: 'deployments in ID order, filtered by group, update and action',
      tag: 'deployments',
      scope: 'read',
      query: listQuery(),
      key: 'deployments',
      item: Deployment,
    }),
  );
  registry.registerPath({
    method: 'post',
    path: '/v1/deployments',
    operationId: 'approve',
    summary: 'deploy an update to a group',
    tags: ['deployments'],
    security: token('approve'),
    request: { body: jsonBody(deploymentSchema.meta({ id: 'DeploymentInput' })) },
    responses: {
      '201': { description: 'the deployment', content: json(Deployment) },
      ...errors('400', '401', '403', '404', '409'),
    },
  });
  registry.registerPath({
    method: 'patch',
    path: '/v1/deployments/{id}',
    operationId: 'changeDeployment',
    summary: 'change a deployment’s deadline (null clears it) or rollout percentage',
    description:
      'Moves the catalog version: the clients’ next sync carries the change. `percent` and `percentage` are the same field.',
    tags: ['deployments'],
    security: token('approve'),
    request: {
      params: idPath,
      body: jsonBody(deploymentChangeSchema.meta({ id: 'DeploymentChange' })),
    },
    responses: {
      '200': { description: 'the deployment', content: json(Deployment) },
      ...errors('400', '401', '403', '404'),
    },
  });
  registry.registerPath({
    method: 'delete',
    path: '/v1/deployments/{id}',
    operationId: 'removeDeployment',
    summary: 'remove a deployment: its update leaves the group’s policy',
    tags: ['deployments'],
    security: token('approve'),
    request: { params: idPath },
    responses: {
      '200': {
        description: 'removed',
        content: json(
          z.object({
            id: z.number().int(),
            updateId: z.string(),
            group: z.string(),
            catalogVersion: z.number().int(),
          }),
        ),
      },
      ...errors('400', '401', '403', '404'),
    },
  });
  registry.registerPath({
    method: 'post',
    path: '/v1/promotions',
    operationId: 'promote',
    summary: "copy an update's deployment to the next ring when it installs well enough",
    description:
      'Refused (409, with the figures) when installed / (installed + failed) in `from` is below `minSuccess`, or when fewer clients in `from` than `minReporting` have reported.',
    tags: ['deployments'],
    security: token('approve'),
    request: { body: jsonBody(promotionSchema.meta({ id: 'PromotionInput' })) },
    responses: {
      '201': { description: 'the new deployment', content: json(Promotion) },
      ...errors('400', '401', '403', '404', '409'),
    },
  });
}
