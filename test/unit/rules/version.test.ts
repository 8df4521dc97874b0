import test from 'ava';
import { SCALAR_COMPARISONS } from '../../../src/rules/model.js';
import {
  compareVersions,
  isVersion,
  satisfies,
  versionSatisfies,
} from '../../../src/rules/version.js';

test('missing parts count as 0', (t) => {
  t.is(compareVersions('1.2', '1.2.0.0'), 0);
  t.is(compareVersions('1', '1.0.0.0'), 0);
  t.is(compareVersions('1.2.0.1', '1.2'), 1);
  t.is(compareVersions('1.2', '1.2.0.1'), -1);
});

test('parts compare as numbers, not text', (t) => {
  t.is(compareVersions('1.10', '1.9'), 1);
  t.is(compareVersions('0006.0000.0001.8454', '6.0.1.8454'), 0);
  t.is(compareVersions('2', '10'), -1);
  t.is(compareVersions('99999999999999999999.1', '99999999999999999998.9'), 1);
});

test('non-versions do not compare', (t) => {
  for (const bad of ['', '1.', '.1', '1..2', 'a', '1.2a', ' 1', '-1', '1.2.3.4.5.6.7.8.9']) {
    t.false(isVersion(bad), bad);
    t.is(compareVersions(bad, '1'), undefined, bad);
  }
  t.true(isVersion('1.2.3.4'));
});

test('every comparison', (t) => {
  const table: Record<(typeof SCALAR_COMPARISONS)[number], [boolean, boolean, boolean]> = {
    // results for order -1, 0, 1
    EqualTo: [false, true, false],
    LessThan: [true, false, false],
    LessThanOrEqualTo: [true, true, false],
    GreaterThan: [false, false, true],
    GreaterThanOrEqualTo: [false, true, true],
  };
  for (const comparison of SCALAR_COMPARISONS) {
    const [lt, eq, gt] = table[comparison];
    t.is(satisfies(-1, comparison), lt, comparison);
    t.is(satisfies(0, comparison), eq, comparison);
    t.is(satisfies(1, comparison), gt, comparison);
  }
  t.true(versionSatisfies('5.0.1', 'GreaterThanOrEqualTo', '5.0.1.0'));
  t.false(versionSatisfies('5.0.1', 'LessThan', '5.0.1.0'));
  t.is(versionSatisfies('x', 'EqualTo', '1'), undefined);
});
