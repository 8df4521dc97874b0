import type { Logger } from 'pino';
import { UpcatError } from '../errors.js';
import { Lease } from '../ops/lease.js';
import type { Db } from '../storage/db.js';
import type { AdvanceReport, RolloutService } from './rollouts.js';

/** Far above one pass; a node that dies mid-pass frees the lease within this time. */
const LEASE_MS = 5 * 60 * 1000;
const LEASE_NAME = 'rollout-engine';

interface EngineDeps {
  db: Db;
  log: Logger;
  rollouts: Pick<RolloutService, 'advance'>;
}

/**
 * One pass of the rollout engine under the `rollout-engine` lease (ops/lease.ts), so that of
 * several `upcat serve` nodes sharing a database exactly one advances at a time. Undefined when
 * another holder has the lease.
 */
export async function runRolloutPass(
  deps: EngineDeps,
  at = new Date(),
): Promise<AdvanceReport | undefined> {
  const lease = new Lease(deps.db, LEASE_NAME, LEASE_MS);
  if (!(await lease.acquire(at))) return undefined;
  try {
    return await deps.rollouts.advance(at);
  } finally {
    await lease.release();
  }
}

/** `upcat rollouts advance`: the same, failing with a clear message when the lease is held. */
export async function advanceOnce(deps: EngineDeps, at = new Date()): Promise<AdvanceReport> {
  const report = await runRolloutPass(deps, at);
  if (report !== undefined) return report;
  const holder = await new Lease(deps.db, LEASE_NAME, LEASE_MS).holder();
  throw new UpcatError(
    'conflict',
    `the rollout engine is running elsewhere (${holder?.owner ?? 'another process'}, lease until ${holder?.expiresAt ?? '?'}); try again later`,
  );
}

/**
 * The engine's timer in `upcat serve`: a pass every `rollouts.checkIntervalSeconds` (0 turns it
 * off), skipped while the previous one is still running.
 */
export function startRolloutEngine(deps: EngineDeps, intervalSeconds: number): { stop(): void } {
  if (intervalSeconds === 0) return { stop: () => undefined };
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    runRolloutPass(deps)
      .catch((err: unknown) => deps.log.error({ err }, 'rollout engine pass failed'))
      .finally(() => (running = false));
  }, intervalSeconds * 1000);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
