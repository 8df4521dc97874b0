import { z } from 'zod';
import { parseDuration } from './duration.js';
import { text } from './fields.js';
import { DEFAULT_MIN_SUCCESS } from './promote.js';
import {
  ROLLOUT_ACTIONS,
  ROLLOUT_STATUSES,
  parseRolloutId,
  type RolloutStatus,
} from './vocabulary.js';

/**
 * Rollouts (issue 14 item 6): the input, the stored rows, the view, and the one judgement of
 * whether a ring's evidence lets the rollout go on. No I/O here.
 */
export { ROLLOUT_ACTIONS, ROLLOUT_STATUSES, parseRolloutId, type RolloutStatus };
export type RingState = 'pending' | 'active' | 'done';

export const ENGINE_ACTOR = 'rollout engine';

/** A wait (soak time): a duration such as 2h, or 0 (`0`, `0s`) for none. */
export function waitMs(value: string, field: string): number {
  if (/^0+[smhdw]?$/.test(value.trim())) return 0;
  return parseDuration(value, field);
}

const isDuration = (s: string, allowZero: boolean): boolean => {
  try {
    return allowZero ? waitMs(s, 'x') >= 0 : parseDuration(s, 'x') > 0;
  } catch {
    return false;
  }
};

export const ringSchema = z.strictObject({
  group: text(128),
  percent: z.number().int().min(1).max(100).default(100),
  minSuccess: z.number().min(0).max(100).default(DEFAULT_MIN_SUCCESS),
  minReporting: z.number().int().min(1).max(1_000_000).default(1),
  wait: z
    .string()
    .max(16)
    .refine((s) => isDuration(s, true), 'must be a duration such as 30m, 2h, 1d, or 0')
    .default('1h'),
});
export type RingInput = z.output<typeof ringSchema>;

/** `POST /v1/rollouts`, `upcat rollouts create`; unknown fields are errors. */
export const rolloutSchema = z
  .strictObject({
    updateId: z.string().regex(/^[0-9a-fA-F-]{36}$/, 'must be an update ID (GUID)'),
    name: text(128).optional(),
    action: z.enum(ROLLOUT_ACTIONS).default('install'),
    /** Each ring's deadline, as a duration after the ring starts. */
    deadline: z
      .string()
      .max(16)
      .refine((s) => isDuration(s, false), 'must be a duration such as 3d, 12h, 1w')
      .optional(),
    rings: z.array(ringSchema).min(1).max(32),
  })
  .superRefine((r, ctx) => {
    const seen = new Set<string>();
    r.rings.forEach((ring, i) => {
      if (seen.has(ring.group))
        ctx.addIssue({
          code: 'custom',
          path: ['rings', i, 'group'],
          message: `"${ring.group}" is already an earlier ring`,
        });
      seen.add(ring.group);
    });
  });
export type RolloutInput = z.output<typeof rolloutSchema>;

export interface RingEvidence {
  installed: number;
  failed: number;
  reporting: number;
  notApplicable: number;
  successRate: number;
}

export interface RingView {
  index: number;
  group: string;
  percent: number;
  minSuccess: number;
  minReporting: number;
  wait: string;
  state: RingState;
  startedAt: string | null;
  doneAt: string | null;
  evidence: RingEvidence;
}

export interface RolloutHistoryEntry {
  at: string;
  step: string;
  by: string;
  ring: number | null;
  detail: unknown;
}

export interface RolloutView {
  id: number;
  name: string;
  updateId: string;
  title: string;
  action: string;
  deadline: string | null;
  status: RolloutStatus;
  /** The index (from 0) of the ring now active, or the last one started. */
  currentRing: number;
  createdAt: string;
  createdBy: string;
  /** Why a running rollout has not moved on yet (wait, reporting clients); null otherwise. */
  holding: string | null;
  rings: RingView[];
  history: RolloutHistoryEntry[];
}

export interface RolloutRow {
  id: number;
  name: string;
  update_id: string;
  action: string;
  deadline_offset: string | null;
  status: RolloutStatus;
  current_ring: number;
  created_at: string;
  created_by: string;
}

export interface RingRow {
  rollout_id: number;
  ring_index: number;
  group_name: string;
  group_id: number | null;
  percent: number;
  min_success: number;
  min_reporting: number;
  wait: string;
  state: RingState;
  started_at: string | null;
  done_at: string | null;
}

export const NO_EVIDENCE: RingEvidence = {
  installed: 0,
  failed: 0,
  reporting: 0,
  notApplicable: 0,
  successRate: 0,
};

export type Verdict =
  | { verdict: 'advance'; reason: string }
  | { verdict: 'hold'; reason: string }
  | { verdict: 'fail'; reason: string };

/**
 * Whether the active ring may hand over to the next (hawkBit's success condition): its wait has
 * passed since it started, at least `minReporting` of the clients it targets have reported
 * installed or failed, and the share installed is at least `minSuccess`. A ring whose wait has
 * passed with enough clients reporting and too many failures fails the rollout: more time only
 * spreads a bad build further. Too few reporting clients is a hold, not a failure.
 */
export function judge(ring: RingRow, evidence: RingEvidence, at: Date): Verdict {
  const label = `ring ${ring.ring_index + 1} ("${ring.group_name}")`;
  const started = Date.parse(ring.started_at ?? '');
  const soakUntil = started + waitMs(ring.wait, 'wait');
  if (Number.isNaN(started) || at.getTime() < soakUntil)
    return {
      verdict: 'hold',
      reason: `${label}: waiting until ${new Date(Number.isNaN(soakUntil) ? 0 : soakUntil).toISOString()} (wait ${ring.wait})`,
    };
  const figures = `${evidence.installed} of ${evidence.reporting} reporting clients installed (${evidence.successRate.toFixed(1)}%)`;
  if (evidence.reporting < Number(ring.min_reporting))
    return {
      verdict: 'hold',
      reason: `${label}: ${evidence.reporting} client(s) reporting, needs ${ring.min_reporting}`,
    };
  if (evidence.successRate < Number(ring.min_success))
    return {
      verdict: 'fail',
      reason: `${label}: ${figures}, below minSuccess ${ring.min_success}`,
    };
  return { verdict: 'advance', reason: `${label}: ${figures}` };
}
