import test from 'ava';
import type { Request, Response } from 'express';
import { RateWindows, rateLimit, sourceKey } from '../../../src/server/middleware/rate-limit.js';

test('sources: IPv4 as is, IPv6 by its /64, IPv4-mapped IPv6 as its IPv4', (t) => {
  const cases: Array<[string | undefined, string]> = [
    ['203.0.113.7', '203.0.113.7'],
    ['::ffff:203.0.113.7', '203.0.113.7'],
    ['::FFFF:cb00:7107', '203.0.113.7'],
    ['2001:db8:1:2::1', '2001:db8:1:2::/64'],
    ['2001:0DB8:0001:0002:aaaa:bbbb:cccc:dddd', '2001:db8:1:2::/64'],
    ['2001:db8:1:2:ffff:ffff:ffff:ffff', '2001:db8:1:2::/64'],
    ['2001:db8:1:3::1', '2001:db8:1:3::/64'],
    ['2001:db8::', '2001:db8:0:0::/64'],
    ['::1', '0:0:0:0::/64'],
    ['fe80::1%eth0', 'fe80:0:0:0::/64'],
    ['64:ff9b::192.0.2.1', '64:ff9b:0:0::/64'],
    [undefined, 'unknown'],
  ];
  for (const [address, key] of cases) t.is(sourceKey(address), key, String(address));
});

test('a window: refused past the limit with the time left, allowed again in the next one', (t) => {
  const w = new RateWindows(2, 60_000, 100);
  t.true(w.hit('a', 1_000).allowed);
  t.true(w.hit('a', 2_000).allowed);
  const refused = w.hit('a', 11_000);
  t.false(refused.allowed);
  t.is(refused.retryAfterMs, 50_000);
  t.true(w.hit('b', 11_000).allowed, 'another source has its own budget');
  t.true(w.hit('a', 61_000).allowed);
});

test('a flood of new sources evicts the least recent, never lifts the limit of one that keeps sending', (t) => {
  const w = new RateWindows(2, 60_000, 100);
  for (let i = 0; i < 3; i++) w.hit('attacker', 1_000);
  for (let i = 0; i < 1_000; i++) {
    w.hit(`flood-${i}`, 1_000 + i);
    if (i % 50 === 0) t.false(w.hit('attacker', 1_000 + i).allowed, `still limited after ${i}`);
    t.true(w.size <= 100);
  }
  // The quiet, old sources went first.
  t.true(w.hit('flood-0', 2_000).allowed);
});

test('the middleware: one IPv6 /64 shares one budget however many addresses it uses', (t) => {
  const limit = rateLimit({ perMinute: 3, maxKeys: 100 });
  const headers: Record<string, string> = {};
  const res = { set: (k: string, v: string) => (headers[k] = v) } as unknown as Response;
  const send = (remoteAddress: string): 'ok' | 'limited' => {
    let passed = false;
    try {
      limit({ socket: { remoteAddress } } as unknown as Request, res, () => (passed = true));
    } catch (err) {
      t.is((err as { code?: string }).code, 'rate_limited');
      return 'limited';
    }
    return passed ? 'ok' : 'limited';
  };
  const answers = Array.from({ length: 300 }, (_, i) =>
    send(`2001:db8:aa:bb:${(i + 1).toString(16)}::${(i * 7 + 1).toString(16)}`),
  );
  t.is(answers.filter((a) => a === 'ok').length, 3);
  t.regex(headers['Retry-After'] ?? '', /^\d+$/);
  t.is(send('2001:db8:aa:bc::1'), 'ok', 'the next /64 is another source');
  t.is(send('::ffff:198.51.100.9'), 'ok');
  for (let i = 0; i < 2; i++) send('198.51.100.9');
  t.is(send('::ffff:198.51.100.9'), 'limited', 'mapped and plain IPv4 are one source');
});
