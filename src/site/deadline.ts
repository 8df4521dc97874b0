/**
 * Deployment deadlines (`upcat approve --deadline`, `POST /v1/deployments`): an ISO-8601 date,
 * meaning midnight UTC that day, or a date and time with its zone: `Z` or an offset (`+02:00`,
 * `+0200`, `+02`), to the minute or the second, with an optional fraction; `T` or a space between
 * them (RFC 3339). A time without a zone is refused rather than guessed: the server's zone is
 * not the administrator's. Impossible dates (February 30) are refused, not rolled over.
 */
const FORM =
  /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?([Zz]|[+-]\d{2}(?::?\d{2})?))?$/;

export const DEADLINE_FORMS =
  'an ISO-8601 date (2030-01-01, midnight UTC) or date and time with a zone (2030-01-01T08:00:00Z, 2030-01-01T08:00+02:00)';

/** The deadline as a UTC ISO timestamp (`2030-01-01T00:00:00.000Z`), or undefined when not one. */
export function parseDeadline(text: string): string | undefined {
  const m = FORM.exec(text.trim());
  if (m === null) return undefined;
  const [, y, mo, d, h = '0', mi = '0', s = '0', fraction = '', zone = 'Z'] = m;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  const hour = Number(h);
  const minute = Number(mi);
  const second = Number(s);
  if (month < 1 || month > 12 || day < 1 || day > daysIn(year, month)) return undefined;
  if (hour > 23 || minute > 59 || second > 59) return undefined;
  const offset = offsetMinutes(zone);
  if (offset === undefined) return undefined;
  const ms = Number(fraction.padEnd(3, '0').slice(0, 3));
  const at = Date.UTC(year, month - 1, day, hour, minute, second, ms) - offset * 60_000;
  const iso = new Date(at).toISOString();
  // Within years 0000-9999, so that stored deadlines compare as strings (sync/policy.ts).
  return /^\d{4}-/.test(iso) ? iso : undefined;
}

function daysIn(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

function offsetMinutes(zone: string): number | undefined {
  if (zone === 'Z' || zone === 'z') return 0;
  const sign = zone.startsWith('-') ? -1 : 1;
  const digits = zone.slice(1).replace(':', '');
  const hours = Number(digits.slice(0, 2));
  const minutes = digits.length > 2 ? Number(digits.slice(2)) : 0;
  if (hours > 23 || minutes > 59) return undefined;
  return sign * (hours * 60 + minutes);
}
