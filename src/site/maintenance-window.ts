import { z } from 'zod';
import { DAYS, type Day } from './vocabulary.js';

/**
 * Maintenance windows (issue 14 item 6): when a group's `install` deployments may install
 * before their deadline. The model and its evaluation only, with no I/O, so that the agent
 * (agent/apply.ts) and the site evaluate a window the same way.
 *
 * A window opens on each of its `days` at `start` (local time in the schedule's zone) and stays
 * open for `duration`, which may run past midnight into the next day (a Friday 22:00 window of
 * 4h closes Saturday 02:00). Zones are `UTC` or a fixed offset (`+02:00`): a fixed offset has
 * no daylight saving, so a window never opens twice or not at all on a changeover night; an
 * administrator whose sites observe DST sets the offset they want (or two windows).
 */
export { DAYS, type Day };

const MAX_WINDOW_MS = 7 * 24 * 3_600_000;
const UNIT_MS: Readonly<Record<string, number>> = { m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `90m`, `4h`, `2d` as milliseconds (1 minute to 7 days); undefined when not one. */
export function windowDurationMs(text: string): number | undefined {
  const m = /^(\d{1,5})([mhd])$/.exec(text);
  if (m === null) return undefined;
  const ms = Number(m[1]) * (UNIT_MS[m[2] ?? 'm'] ?? 60_000);
  return ms >= 60_000 && ms <= MAX_WINDOW_MS ? ms : undefined;
}

/** `UTC`, `Z` or `+hh:mm` / `-hh:mm` (up to ±14:00) as minutes east of UTC; undefined when not one. */
export function offsetMinutesOf(zone: string): number | undefined {
  if (zone === 'UTC' || zone === 'Z') return 0;
  const m = /^([+-])(\d{2}):(\d{2})$/.exec(zone);
  if (m === null) return undefined;
  const minutes = Number(m[2]) * 60 + Number(m[3]);
  if (Number(m[3]) > 59 || minutes > 14 * 60) return undefined;
  return (m[1] === '-' ? -1 : 1) * minutes;
}

export const windowSchema = z.strictObject({
  days: z
    .array(z.enum(DAYS, { error: `must be one of ${DAYS.join(', ')}` }))
    .min(1)
    .max(7)
    .refine((d) => new Set(d).size === d.length, 'must not repeat a day'),
  start: z
    .string()
    .regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be a time of day as HH:MM (00:00 to 23:59)'),
  duration: z
    .string()
    .max(8)
    .refine(
      (s) => windowDurationMs(s) !== undefined,
      'must be a duration from 1m to 7d such as 90m, 4h, 2d',
    ),
});
export type MaintenanceWindow = z.infer<typeof windowSchema>;

export const timezoneSchema = z
  .string()
  .max(8)
  .refine(
    (s) => offsetMinutesOf(s) !== undefined,
    'must be UTC or a fixed offset such as +02:00 or -05:30',
  );

/** `PUT /v1/groups/:name/maintenance-window`, `upcat groups window set`. */
export const scheduleSchema = z.strictObject({
  windows: z.array(windowSchema).min(1).max(32),
  timezone: timezoneSchema.default('UTC'),
});
export type MaintenanceSchedule = z.infer<typeof scheduleSchema>;

/** One window with its zone, as a client's policy carries it (sync/policy.ts). */
export const zonedWindowSchema = windowSchema.extend({ timezone: timezoneSchema });
export type ZonedWindow = z.infer<typeof zonedWindowSchema>;

const DAY_MS = 86_400_000;

/** The opening times (UTC ms) of a window's occurrences from `daysBack` local days before `at` to `daysAhead` after. */
function openings(w: ZonedWindow, at: number, daysBack: number, daysAhead: number): number[] {
  const offsetMs = (offsetMinutesOf(w.timezone) ?? 0) * 60_000;
  const durationMs = windowDurationMs(w.duration) ?? 0;
  if (durationMs === 0) return [];
  const [h, m] = w.start.split(':').map(Number);
  const startMs = ((h ?? 0) * 60 + (m ?? 0)) * 60_000;
  // Local midnight of the local day `at` falls on, expressed in UTC ms.
  const localNow = at + offsetMs;
  const localMidnight = Math.floor(localNow / DAY_MS) * DAY_MS;
  const out: number[] = [];
  for (let k = -daysBack; k <= daysAhead; k++) {
    const day = localMidnight + k * DAY_MS;
    const weekday = DAYS[new Date(day).getUTCDay()];
    if (weekday !== undefined && w.days.includes(weekday)) out.push(day + startMs - offsetMs);
  }
  return out;
}

/** Whether any of the windows is open at `at` (a window that opened up to 7 days ago may still be). */
export function windowOpen(windows: readonly ZonedWindow[], at: Date): boolean {
  const t = at.getTime();
  return windows.some((w) => {
    const durationMs = windowDurationMs(w.duration) ?? 0;
    return openings(w, t, 8, 0).some((open) => open <= t && t < open + durationMs);
  });
}

/** When the next of the windows opens after `at` (undefined for no windows). */
export function nextOpening(windows: readonly ZonedWindow[], at: Date): Date | undefined {
  const t = at.getTime();
  let best: number | undefined;
  for (const w of windows)
    for (const open of openings(w, t, 1, 8))
      if (open > t && (best === undefined || open < best)) best = open;
  return best === undefined ? undefined : new Date(best);
}

/** A group's schedule as the windows a policy carries, each with the schedule's zone. */
export function zoned(schedule: MaintenanceSchedule): ZonedWindow[] {
  return schedule.windows.map((w) => ({ ...w, timezone: schedule.timezone }));
}
