import { UpcatError } from '../errors.js';

const UNIT_MS: Readonly<Record<string, number>> = {
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 7 * 86_400_000,
};

/** `90d`, `12h`, `30m`, `2w`, `45s` as milliseconds; `field` names the option in the error. */
export function parseDuration(text: string, field: string): number {
  const m = /^(\d{1,6})([smhdw])$/.exec(text.trim());
  const n = m === null ? NaN : Number(m[1]);
  if (m === null || n < 1)
    throw new UpcatError(
      'invalid_input',
      `${field}: "${text}" is not a duration such as 90d, 12h, 30m (units s, m, h, d, w)`,
    );
  return n * (UNIT_MS[m[2] ?? 's'] ?? 1_000);
}

/**
 * A point in time given as an ISO 8601 date/time or as a duration back from now (`7d`):
 * the `--since` of `upcat audit` and `GET /v1/audit`.
 */
export function parseSince(text: string, field = 'since', at = Date.now()): string {
  if (/^\d+[smhdw]$/.test(text.trim()))
    return new Date(at - parseDuration(text, field)).toISOString();
  const t = /^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(text.trim())
    ? Date.parse(text.trim())
    : NaN;
  if (Number.isNaN(t))
    throw new UpcatError(
      'invalid_input',
      `${field}: "${text}" is neither an ISO 8601 time (2025-01-31T12:00:00Z) nor a duration (7d)`,
    );
  return new Date(t).toISOString();
}
