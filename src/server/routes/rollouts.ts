import type { Request, Router } from 'express';
import type { Site } from '../../app.js';
import { UpcatError } from '../../errors.js';
import { parseRolloutId, ROLLOUT_STATUSES, type RolloutStatus } from '../../site/rollouts-model.js';
import { jsonBody } from '../middleware/body.js';
import { actorOf, requireScope } from '../middleware/token-auth.js';
import { decodeCursor, pageLimitOf, sendJsonWithEtag } from '../paging.js';
import { onlyQuery } from './groups.js';

/**
 * Rollouts (issue 14 item 6): reading needs `read`; creating, pausing, resuming and stopping
 * need `approve`, the scope that guards deployments (a rollout is deployments made in turn).
 * The service (site/rollouts.ts) validates the body and writes history and audit rows.
 */
export function rolloutRoutes(router: Router, site: Pick<Site, 'tokens' | 'rollouts'>): void {
  const read = requireScope(site, 'read');
  const approve = requireScope(site, 'approve');
  const json = jsonBody(64 * 1024);

  router.get('/v1/rollouts', read, async (req, res) => {
    const q = onlyQuery(req, ['limit', 'cursor', 'status']);
    const page = await site.rollouts.page({
      limit: pageLimitOf(q['limit']),
      ...(q['cursor'] === undefined ? {} : { before: idKey(q['cursor']) }),
      ...(q['status'] === undefined ? {} : { status: statusOf(q['status']) }),
    });
    sendJsonWithEtag(req, res, { rollouts: page.items, next: page.next });
  });
  router.get('/v1/rollouts/:rollout', read, async (req, res) => {
    onlyQuery(req, []);
    sendJsonWithEtag(req, res, await site.rollouts.show(rolloutId(req)));
  });
  router.post('/v1/rollouts', approve, json, async (req, res) => {
    res.status(201).json(await site.rollouts.create(req.body, actorOf(res)));
  });
  router.post('/v1/rollouts/:rollout/pause', approve, async (req, res) => {
    res.json(await site.rollouts.pause(rolloutId(req), actorOf(res)));
  });
  router.post('/v1/rollouts/:rollout/resume', approve, async (req, res) => {
    res.json(await site.rollouts.resume(rolloutId(req), actorOf(res)));
  });
  router.post('/v1/rollouts/:rollout/stop', approve, async (req, res) => {
    res.json(await site.rollouts.stop(rolloutId(req), actorOf(res)));
  });
}

function rolloutId(req: Request): number {
  const value = (req.params as Record<string, string | string[] | undefined>)['rollout'];
  return parseRolloutId(typeof value === 'string' ? value : '');
}

function statusOf(text: string): RolloutStatus {
  if (!(ROLLOUT_STATUSES as readonly string[]).includes(text))
    throw new UpcatError('invalid_input', `status: must be one of ${ROLLOUT_STATUSES.join(', ')}`);
  return text as RolloutStatus;
}

function idKey(cursor: string): number {
  const [id] = decodeCursor(cursor, 1);
  if (typeof id !== 'number' || !Number.isInteger(id) || id < 1)
    throw new UpcatError('invalid_input', 'cursor: not a cursor of this list');
  return id;
}
