import test from 'ava';
import {
  nextOpening,
  offsetMinutesOf,
  scheduleSchema,
  windowOpen,
  zoned,
  type ZonedWindow,
} from '../../../src/site/maintenance-window.js';

// 2030-01-04 is a Friday.
const at = (iso: string): Date => new Date(iso);
const w = (over: Partial<ZonedWindow> = {}): ZonedWindow => ({
  days: ['fri'],
  start: '22:00',
  duration: '4h',
  timezone: 'UTC',
  ...over,
});

test('a window is open from its start for its duration, on its days only', (t) => {
  t.false(windowOpen([w()], at('2030-01-04T21:59:59Z')));
  t.true(windowOpen([w()], at('2030-01-04T22:00:00Z')));
  t.true(windowOpen([w()], at('2030-01-04T23:30:00Z')));
  t.false(windowOpen([w()], at('2030-01-03T22:30:00Z')), 'Thursday is not a window day');
  t.false(windowOpen([w()], at('2030-01-11T02:00:00Z')), 'the end is not inside');
});

test('a window wraps past midnight into the next day', (t) => {
  t.true(windowOpen([w()], at('2030-01-05T01:59:00Z')), 'Saturday 01:59 is Friday night');
  t.false(windowOpen([w()], at('2030-01-05T02:00:00Z')));
  // A Saturday window does not open early on Friday night.
  t.false(windowOpen([w({ days: ['sat'] })], at('2030-01-04T23:00:00Z')));
  // A two-day weekend window opened Saturday is still open on Monday morning.
  const weekend = w({ days: ['sat'], start: '00:00', duration: '2d' });
  t.true(windowOpen([weekend], at('2030-01-06T23:59:00Z')));
  t.false(windowOpen([weekend], at('2030-01-07T00:00:00Z')));
});

test('days and start are local to a fixed offset', (t) => {
  // Friday 22:00 at +02:00 is Friday 20:00 UTC.
  const east = w({ timezone: '+02:00' });
  t.true(windowOpen([east], at('2030-01-04T20:00:00Z')));
  t.false(windowOpen([east], at('2030-01-05T00:00:00Z')), '02:00 Saturday local: over');
  t.true(windowOpen([east], at('2030-01-04T23:30:00Z')));
  // Monday 01:00 at -05:00 is Monday 06:00 UTC; at 05:59 UTC it is still Sunday 00:59 local.
  const west = w({ days: ['mon'], start: '01:00', duration: '1h', timezone: '-05:00' });
  t.false(windowOpen([west], at('2030-01-07T05:59:00Z')));
  t.true(windowOpen([west], at('2030-01-07T06:00:00Z')));
  // An offset that moves the local day across midnight: Saturday 00:30 at +14:00 is Friday 10:30 UTC.
  const kiribati = w({ days: ['sat'], start: '00:30', duration: '30m', timezone: '+14:00' });
  t.true(windowOpen([kiribati], at('2030-01-04T10:30:00Z')));
  t.false(windowOpen([kiribati], at('2030-01-04T11:00:00Z')));
});

test('fixed offsets know no daylight saving: the same UTC hour all year', (t) => {
  const w1 = w({ days: ['sun'], start: '02:00', duration: '1h', timezone: '+01:00' });
  // The last Sunday of March (2030-03-31) and a winter Sunday open at 01:00 UTC alike.
  t.true(windowOpen([w1], at('2030-03-31T01:30:00Z')));
  t.true(windowOpen([w1], at('2030-01-06T01:30:00Z')));
  t.false(windowOpen([w1], at('2030-03-31T00:30:00Z')));
});

test('several windows add up; the next opening is the earliest ahead', (t) => {
  const windows = [w(), w({ days: ['tue'], start: '03:00', duration: '1h' })];
  t.true(windowOpen(windows, at('2030-01-08T03:30:00Z')));
  t.is(nextOpening(windows, at('2030-01-04T12:00:00Z'))?.toISOString(), '2030-01-04T22:00:00.000Z');
  t.is(nextOpening(windows, at('2030-01-05T12:00:00Z'))?.toISOString(), '2030-01-08T03:00:00.000Z');
  t.is(nextOpening([], at('2030-01-05T12:00:00Z')), undefined);
  t.false(windowOpen([], at('2030-01-05T12:00:00Z')));
});

test('the schedule schema names the field of bad input', (t) => {
  const bad = (v: unknown): string => {
    const r = scheduleSchema.safeParse(v);
    return r.success ? 'ok' : r.error.issues.map((i) => `${i.path.join('.')}`).join(',');
  };
  const good = { windows: [{ days: ['mon'], start: '22:00', duration: '4h' }] };
  t.is(bad(good), 'ok');
  t.is(scheduleSchema.parse(good).timezone, 'UTC');
  t.is(bad({ windows: [{ days: ['moon'], start: '22:00', duration: '4h' }] }), 'windows.0.days.0');
  t.is(
    bad({ windows: [{ days: ['mon', 'mon'], start: '22:00', duration: '4h' }] }),
    'windows.0.days',
  );
  t.is(bad({ windows: [{ days: ['mon'], start: '24:00', duration: '4h' }] }), 'windows.0.start');
  t.is(bad({ windows: [{ days: ['mon'], start: '22:00', duration: '8d' }] }), 'windows.0.duration');
  t.is(bad({ windows: [{ days: ['mon'], start: '22:00', duration: '0h' }] }), 'windows.0.duration');
  t.is(bad({ ...good, timezone: 'CET' }), 'timezone');
  t.is(bad({ ...good, timezone: '+15:00' }), 'timezone');
  t.is(bad({ windows: [] }), 'windows');
  t.is(bad({ ...good, extra: 1 }), '');
  t.is(offsetMinutesOf('-05:30'), -330);
  t.deepEqual(zoned({ timezone: '+02:00', windows: good.windows as never })[0]?.timezone, '+02:00');
});
