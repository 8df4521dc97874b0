import test from 'ava';
import { parseDeadline } from '../../../src/site/deadline.js';

test('deadlines: a date is midnight UTC; the usual ISO-8601 date-time forms are UTC-normalized', (t) => {
  const cases: Array<[string, string]> = [
    ['2030-01-01', '2030-01-01T00:00:00.000Z'],
    ['2030-01-01T00:00:00Z', '2030-01-01T00:00:00.000Z'],
    ['2030-01-01T08:30Z', '2030-01-01T08:30:00.000Z'],
    ['2030-01-01T08:30:15.5Z', '2030-01-01T08:30:15.500Z'],
    ['2030-01-01T08:30:15.123456789Z', '2030-01-01T08:30:15.123Z'],
    ['2030-01-01T08:00:00+02:00', '2030-01-01T06:00:00.000Z'],
    ['2030-01-01T08:00+0200', '2030-01-01T06:00:00.000Z'],
    ['2030-01-01T01:00:00-05', '2030-01-01T06:00:00.000Z'],
    ['2030-01-01 08:00:00z', '2030-01-01T08:00:00.000Z'],
    ['2030-01-01t08:00:00,25Z', '2030-01-01T08:00:00.250Z'],
    ['2028-02-29', '2028-02-29T00:00:00.000Z'],
    [' 2030-01-01 ', '2030-01-01T00:00:00.000Z'],
  ];
  for (const [text, iso] of cases) t.is(parseDeadline(text), iso, text);
});

test('deadlines: no zone, impossible dates and times, other shapes are refused', (t) => {
  for (const text of [
    '2030-01-01T08:00:00', // a time without a zone: whose 08:00?
    '2030-02-30',
    '2029-02-29',
    '2030-13-01',
    '2030-00-10',
    '2030-01-01T24:00Z',
    '2030-01-01T08:60Z',
    '2030-01-01T08:00:61Z',
    '2030-01-01T08:00+24:00',
    '2030-1-1',
    '20300101',
    'tomorrow',
    '',
    '9999-12-31T23:00:00-05:00', // past year 9999 once in UTC
    '2030-01-01T08:00:00Z\u0000',
  ])
    t.is(parseDeadline(text), undefined, JSON.stringify(text));
});
