import test from 'ava';
import fc from 'fast-check';
import { percentShown } from '../../../src/site/promote.js';

test('percentShown: rounded down, so a refusal never prints a figure at or above the threshold', (t) => {
  // The audit's case: 94.96% against 95 printed "95.0% ... below --min-success 95".
  t.is(percentShown(94.96, 95), '94.9');
  t.is(percentShown(94.99999, 95), '94.9');
  t.is(percentShown((113 / 119) * 100, 95), '94.9'); // 94.958%: 113 of 119 clients
  t.is(percentShown((2 / 3) * 100, 66.7), '66.6');
  t.is(percentShown(0, 95), '0.0');
  // 783 of 87,000 is 0.8999999999999999 %, whose product by 10 rounds to 9 (found by the
  // property below): still rounded down.
  t.is(percentShown((783 / 87_000) * 100, 0), '0.8');
});

test('percentShown: a pass never prints a figure below the threshold', (t) => {
  t.is(percentShown(95, 95), '95.0');
  t.is(percentShown(100, 95), '100.0');
  t.is(percentShown((19 / 20) * 100, 95), '95.0');
  // One decimal rounded down would print 66.6 beside a threshold of 66.65: more decimals.
  t.is(percentShown((2 / 3) * 100, 66.65), '66.66');
  t.is(percentShown(95.0004, 95.0003), '95.0004');
});

test('percentShown agrees with the decision for any counts and any threshold of up to 3 decimals', (t) => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 100_000 }).chain((reporting) =>
        fc.tuple(
          fc.integer({ min: 0, max: reporting }),
          fc.constant(reporting),
          fc.integer({ min: 0, max: 100_000 }).map((m) => m / 1000),
        ),
      ),
      ([installed, reporting, min]) => {
        const rate = (installed / reporting) * 100;
        const shown = Number(percentShown(rate, min));
        return shown >= min === rate >= min && shown <= rate;
      },
    ),
    { numRuns: 5000 },
  );
  t.pass();
});
