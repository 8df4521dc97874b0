import { UpcatError } from '../errors.js';

/**
 * The site's fixed vocabularies and the few helpers the CLI needs to declare and print its
 * commands, without zod: the modules that own them (maintenance-window, users, deployments,
 * promote, rollouts-model) define their schemas with zod at load time, and loading zod costs
 * a remote command (`upcat groups list --server ...`) more than the rest of its start
 * (issue 16: a CLI that starts like a tool). Those modules re-export what is here.
 */

/** Days of a maintenance window (maintenance-window.ts). */
export const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
export type Day = (typeof DAYS)[number];

/** People's roles (users.ts). */
export const ROLES = ['admin', 'operator', 'viewer'] as const;
export type Role = (typeof ROLES)[number];

/** What a deployment does (deployments.ts). */
export const ACTIONS = ['install', 'uninstall', 'optional'] as const;
export type DeploymentAction = (typeof ACTIONS)[number];

/** A promotion's default threshold, percent of reporting endpoints installed (promote.ts). */
export const DEFAULT_MIN_SUCCESS = 95;

/**
 * A success rate as printed beside its threshold: rounded down to one decimal, so a refusal
 * never shows a figure at or above `--min-success` (94.96 is "94.9", not "95.0"), with more
 * decimals when a pass would otherwise show one below it (66.67 against 66.65 is "66.66").
 */
export function percentShown(rate: number, minSuccess: number): string {
  for (let decimals = 1; decimals <= 6; decimals++) {
    const scale = 10 ** decimals;
    let units = Math.floor(rate * scale);
    // The product can round up to a whole number (0.8999999999999999 × 10 is 9): one unit
    // less, so that the figure shown is never above the rate.
    if (units / scale > rate) units -= 1;
    const shown = units / scale;
    if (shown >= minSuccess === rate >= minSuccess) return shown.toFixed(decimals);
  }
  return String(rate);
}

/** A rollout's states (rollouts-model.ts). */
export const ROLLOUT_STATUSES = ['running', 'paused', 'stopped', 'done', 'failed'] as const;
export type RolloutStatus = (typeof ROLLOUT_STATUSES)[number];

/** Rollouts install or offer; an uninstall is not something to take through rings. */
export const ROLLOUT_ACTIONS = ['install', 'optional'] as const;

/** A rollout ID (`/v1/rollouts/:id`, the CLI's argument): a whole number from 1. */
export function parseRolloutId(text: string): number {
  if (!/^\d{1,9}$/.test(text) || Number(text) < 1)
    throw new UpcatError('invalid_input', `id: "${text}" is not a rollout ID (a whole number)`);
  return Number(text);
}
