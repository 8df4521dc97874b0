import test from 'ava';
import { parseRange } from '../../../src/server/send-blob.js';

/** The one-range parser of proxied blobs (RFC 9110 §14.1.2), as `send` answers for files. */
test('a single byte range, a suffix, an open end, clamped to the size', (t) => {
  t.deepEqual(parseRange('bytes=0-9', 100), { start: 0, end: 9 });
  t.deepEqual(parseRange('bytes=90-', 100), { start: 90, end: 99 });
  t.deepEqual(parseRange('bytes=-10', 100), { start: 90, end: 99 });
  t.deepEqual(parseRange('bytes=-500', 100), { start: 0, end: 99 });
  t.deepEqual(parseRange('bytes=50-500', 100), { start: 50, end: 99 });
});

test('past the end is unsatisfiable (416); anything else is served whole', (t) => {
  t.is(parseRange('bytes=100-', 100), 'unsatisfiable');
  t.is(parseRange('bytes=-0', 100), 'unsatisfiable');
  t.is(parseRange('bytes=0-', 0), 'unsatisfiable');
  t.is(parseRange('bytes=9-1', 100), undefined);
  t.is(parseRange('bytes=0-1,5-6', 100), undefined);
  t.is(parseRange('items=0-1', 100), undefined);
  t.is(parseRange('bytes=-', 100), undefined);
});
