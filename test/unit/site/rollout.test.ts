import test from 'ava';
import fc from 'fast-check';
import { inRollout, rolloutBucket } from '../../../src/site/rollout.js';

test('widening a rollout never drops a client; the share is close to the percentage', (t) => {
  const ids = Array.from(
    { length: 5000 },
    (_, i) => `00000000-0000-0000-0000-${String(i).padStart(12, '0')}`,
  );
  const update = '11111111-2222-3333-4444-555555555555';
  let previous = new Set<string>();
  for (const percent of [1, 5, 10, 25, 50, 75, 99, 100]) {
    const now = new Set(ids.filter((id) => inRollout(id, update, percent)));
    for (const id of previous) t.true(now.has(id));
    t.true(Math.abs(now.size / ids.length - percent / 100) < 0.03, `${percent}%: ${now.size}`);
    previous = now;
  }
});

test('the bucket is deterministic and per update', (t) => {
  fc.assert(
    fc.property(
      fc.uuid(),
      fc.uuid(),
      fc.integer({ min: 1, max: 99 }),
      fc.integer({ min: 1, max: 99 }),
      (c, u, p, q) => {
        const [lo, hi] = p <= q ? [p, q] : [q, p];
        return (
          rolloutBucket(c, u) === rolloutBucket(c, u) &&
          (!inRollout(c, u, lo) || inRollout(c, u, hi))
        );
      },
    ),
  );
  const c = 'aaaaaaaa-0000-0000-0000-000000000000';
  const buckets = new Set(Array.from({ length: 50 }, (_, i) => rolloutBucket(c, `update-${i}`)));
  t.true(buckets.size > 40);
});
