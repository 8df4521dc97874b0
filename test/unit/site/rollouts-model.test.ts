import test from 'ava';
import { parseRing } from '../../../src/cli/commands/rollouts.js';
import { parseWindow } from '../../../src/cli/commands/rollouts-windows.js';
import { judge, waitMs, type RingRow } from '../../../src/site/rollouts-model.js';

const ring = (over: Partial<RingRow> = {}): RingRow => ({
  rollout_id: 1,
  ring_index: 0,
  group_name: 'Ring 1',
  group_id: 2,
  percent: 100,
  min_success: 90,
  min_reporting: 3,
  wait: '2h',
  state: 'active',
  started_at: '2030-01-01T00:00:00.000Z',
  done_at: null,
  ...over,
});
const evidence = (installed: number, failed: number) => ({
  installed,
  failed,
  reporting: installed + failed,
  notApplicable: 0,
  successRate: installed + failed === 0 ? 0 : (installed / (installed + failed)) * 100,
});
const at = (iso: string): Date => new Date(iso);

test('judge: hold within the wait, whatever the evidence', (t) => {
  const v = judge(ring(), evidence(10, 0), at('2030-01-01T01:59:59Z'));
  t.is(v.verdict, 'hold');
  t.regex(v.reason, /ring 1 \("Ring 1"\): waiting until 2030-01-01T02:00:00.000Z/);
});

test('judge: too few reporting is a hold, not a failure', (t) => {
  const v = judge(ring(), evidence(0, 2), at('2030-01-01T03:00:00Z'));
  t.deepEqual(v, { verdict: 'hold', reason: 'ring 1 ("Ring 1"): 2 client(s) reporting, needs 3' });
});

test('judge: below the ratio fails; at it advances', (t) => {
  t.is(judge(ring(), evidence(8, 2), at('2030-01-01T02:00:00Z')).verdict, 'fail');
  t.is(judge(ring(), evidence(9, 1), at('2030-01-01T02:00:00Z')).verdict, 'advance');
  t.is(judge(ring({ wait: '0' }), evidence(3, 0), at('2030-01-01T00:00:00Z')).verdict, 'advance');
});

test('waitMs: durations and zero', (t) => {
  t.is(waitMs('0', 'wait'), 0);
  t.is(waitMs('0s', 'wait'), 0);
  t.is(waitMs('90m', 'wait'), 90 * 60_000);
  t.throws(() => waitMs('soon', 'wait'), { message: /wait: "soon" is not a duration/ });
});

test('parseRing: a group alone, or with settings; group names may hold colons', (t) => {
  t.deepEqual(parseRing('Ring 1'), { group: 'Ring 1' });
  t.deepEqual(parseRing('Ring 1:percent=10,minSuccess=95.5,minReporting=5,wait=2h'), {
    group: 'Ring 1',
    percent: 10,
    minSuccess: 95.5,
    minReporting: 5,
    wait: '2h',
  });
  t.deepEqual(parseRing('site:a:wait=0'), { group: 'site:a', wait: '0' });
  t.deepEqual(parseRing('Lab: west'), { group: 'Lab: west' });
  t.throws(() => parseRing('R:speed=1'), { message: /"speed" is not a ring setting/ });
  t.throws(() => parseRing('R:percent=ten'), { message: /percent=ten is not a number/ });
});

test('parseWindow: days as lists and ranges, wrapping past Saturday', (t) => {
  t.deepEqual(parseWindow('mon-fri 22:00 4h'), {
    days: ['mon', 'tue', 'wed', 'thu', 'fri'],
    start: '22:00',
    duration: '4h',
  });
  t.deepEqual(parseWindow('fri-mon,wed 01:00 1h').days, ['fri', 'sat', 'sun', 'mon', 'wed']);
  t.throws(() => parseWindow('mon 22:00'), { message: /DAYS START DURATION/ });
  t.throws(() => parseWindow('mon-xyz 22:00 1h'), { message: /"xyz" is not a day/ });
});
