import { z } from 'zod';
import { scheduleSchema, windowSchema } from '../../site/maintenance-window.js';
import { ROLLOUT_ACTIONS, ROLLOUT_STATUSES, rolloutSchema } from '../../site/rollouts-model.js';
import {
  errors,
  etagged,
  isoTime,
  json,
  jsonBody,
  pageOf,
  pageQuery,
  token,
  type Registry,
} from './registry.js';

/**
 * Rollouts and the groups' maintenance windows (routes/rollouts.ts, routes/groups.ts; issue 14
 * item 6). Bodies are the zod schemas of site/rollouts-model.ts and site/maintenance-window.ts.
 */

const Evidence = z
  .object({
    installed: z.number().int(),
    failed: z.number().int(),
    reporting: z.number().int().describe('clients whose latest final state is installed or failed'),
    notApplicable: z.number().int(),
    successRate: z.number().describe('installed / reporting × 100 (0 with nobody reporting)'),
  })
  .meta({ id: 'RingEvidence' });

const Ring = z
  .object({
    index: z.number().int().describe('from 0'),
    group: z.string(),
    percent: z.number().int(),
    minSuccess: z.number(),
    minReporting: z.number().int(),
    wait: z.string().describe('soak time after the ring started before it may hand over'),
    state: z.enum(['pending', 'active', 'done']),
    startedAt: isoTime.nullable(),
    doneAt: isoTime.nullable(),
    evidence: Evidence,
  })
  .meta({ id: 'RolloutRing' });

const Rollout = z
  .object({
    id: z.number().int(),
    name: z.string(),
    updateId: z.string(),
    title: z.string().describe("the title of the update's latest revision"),
    action: z.enum(ROLLOUT_ACTIONS),
    deadline: z.string().nullable().describe("each ring's deadline after it starts (a duration)"),
    status: z
      .enum(ROLLOUT_STATUSES)
      .describe(
        'running: the engine advances it; paused: held by a person; failed: a ring fell below minSuccess after its wait (resume judges again); stopped: ended for good, deployments kept; done: every ring handed over',
      ),
    currentRing: z.number().int().describe('the index of the active (or last started) ring'),
    createdAt: isoTime,
    createdBy: z.string(),
    holding: z
      .string()
      .nullable()
      .describe('why a running rollout has not advanced yet (its wait, too few reporting)'),
    rings: z.array(Ring),
    history: z.array(
      z.object({
        at: isoTime,
        step: z.enum([
          'create',
          'ring-start',
          'advance',
          'pause',
          'resume',
          'stop',
          'fail',
          'done',
        ]),
        by: z.string().describe('the person or token, or "rollout engine"'),
        ring: z.number().int().nullable(),
        detail: z.unknown(),
      }),
    ),
  })
  .meta({ id: 'Rollout' });

export const GroupWindow = z
  .object({
    group: z.string(),
    timezone: z.string(),
    windows: z.array(windowSchema),
    updatedAt: isoTime,
  })
  .meta({ id: 'MaintenanceWindow' });

const idPath = z.object({
  rollout: z
    .string()
    .regex(/^\d{1,9}$/)
    .describe('the rollout ID'),
});
const groupPath = z.object({ group: z.string().min(1).describe('the group name (URL-encoded)') });

export function registerRollouts(registry: Registry): void {
  registry.registerPath({
    method: 'get',
    path: '/v1/rollouts',
    operationId: 'listRollouts',
    summary: 'rollouts, newest first, with live evidence per ring',
    tags: ['rollouts'],
    security: token('read'),
    request: {
      query: pageQuery.extend({ status: z.enum(ROLLOUT_STATUSES).optional() }).strict(),
    },
    responses: {
      ...etagged('a page of rollouts', pageOf('rollouts', Rollout)),
      ...errors('400', '401', '403'),
    },
  });
  registry.registerPath({
    method: 'post',
    path: '/v1/rollouts',
    operationId: 'createRollout',
    summary: 'start a rollout through rings; the first ring is deployed at once',
    description:
      "The engine starts each next ring when the active one's wait has passed since it started, at least minReporting of its targeted clients reported installed or failed, and the share installed is at least minSuccess.",
    tags: ['rollouts'],
    security: token('approve'),
    request: { body: jsonBody(rolloutSchema) },
    responses: {
      '201': { description: 'the rollout', content: json(Rollout) },
      ...errors('400', '401', '403', '404', '409'),
    },
  });
  registry.registerPath({
    method: 'get',
    path: '/v1/rollouts/{rollout}',
    operationId: 'showRollout',
    summary: 'a rollout: rings, evidence, history',
    tags: ['rollouts'],
    security: token('read'),
    request: { params: idPath },
    responses: { ...etagged('the rollout', Rollout), ...errors('400', '401', '403', '404') },
  });
  for (const [verb, summary] of [
    ['pause', 'hold a running rollout'],
    ['resume', 'let a paused or failed rollout go on'],
    ['stop', 'end a rollout for good (its deployments stay)'],
  ] as const)
    registry.registerPath({
      method: 'post',
      path: `/v1/rollouts/{rollout}/${verb}`,
      operationId: `${verb}Rollout`,
      summary,
      tags: ['rollouts'],
      security: token('approve'),
      request: { params: idPath },
      responses: {
        '200': { description: 'the rollout', content: json(Rollout) },
        ...errors('400', '401', '403', '404', '409'),
      },
    });

  registry.registerPath({
    method: 'get',
    path: '/v1/groups/{group}/maintenance-window',
    operationId: 'showMaintenanceWindow',
    summary: "a group's maintenance windows (null when it has none)",
    tags: ['groups'],
    security: token('read'),
    request: { params: groupPath },
    responses: {
      ...etagged(
        'the windows',
        z.object({ group: z.string(), maintenanceWindow: GroupWindow.nullable() }),
      ),
      ...errors('400', '401', '403', '404'),
    },
  });
  registry.registerPath({
    method: 'put',
    path: '/v1/groups/{group}/maintenance-window',
    operationId: 'setMaintenanceWindow',
    summary: "replace a group's maintenance windows (moves the catalog version)",
    description:
      "Before its deadline, an install deployment installs on the group's clients only while one of the windows of the client's groups is open; at the deadline it installs regardless.",
    tags: ['groups'],
    security: token('approve'),
    request: { params: groupPath, body: jsonBody(scheduleSchema) },
    responses: {
      '200': { description: 'the windows', content: json(GroupWindow) },
      ...errors('400', '401', '403', '404'),
    },
  });
  registry.registerPath({
    method: 'delete',
    path: '/v1/groups/{group}/maintenance-window',
    operationId: 'clearMaintenanceWindow',
    summary: "remove a group's maintenance windows",
    tags: ['groups'],
    security: token('approve'),
    request: { params: groupPath },
    responses: {
      '200': {
        description: 'cleared is false when the group had none',
        content: json(z.object({ group: z.string(), cleared: z.boolean() })),
      },
      ...errors('400', '401', '403', '404'),
    },
  });
}
