import test from 'ava';
import type { Request, Response } from 'express';
import { rateLimit } from '../../../src/server/middleware/rate-limit.js';
import { clientAddress } from '../../../src/server/trusted-proxy.js';

/**
 * Behind a load balancer (issue 15 item 3) every socket is the balancer's: per-source limits
 * (the fallback status point, logins) key on the address a trusted proxy forwarded instead.
 */
test('the caller: the socket, or the hop a trusted proxy appended to X-Forwarded-For', (t) => {
  const lb = ['127.0.0.1', '10.0.0.2'];
  t.is(clientAddress('203.0.113.9', '198.51.100.1', lb), '203.0.113.9', 'an untrusted peer');
  t.is(clientAddress('::ffff:127.0.0.1', '198.51.100.1', lb), '198.51.100.1');
  t.is(clientAddress('127.0.0.1', 'forged, 198.51.100.1', lb), '198.51.100.1', 'the last hop');
  t.is(clientAddress('127.0.0.1', '198.51.100.1, 10.0.0.2', lb), '198.51.100.1', 'two proxies');
  t.is(clientAddress('127.0.0.1', ['1.2.3.4', '198.51.100.7'], lb), '198.51.100.7');
  t.is(clientAddress('127.0.0.1', undefined, lb), '127.0.0.1', 'no header');
  t.is(clientAddress('127.0.0.1', '198.51.100.1', []), '127.0.0.1', 'no trusted proxies');
});

test('the fallback status limit behind a trusted balancer: one budget per client, not one for all', (t) => {
  const limit = rateLimit({ perMinute: 2, maxKeys: 100, trustedProxies: ['127.0.0.1'] });
  const res = { set: () => undefined } as unknown as Response;
  const send = (peer: string, forwarded: string): 'ok' | 'limited' => {
    const req = { socket: { remoteAddress: peer }, headers: { 'x-forwarded-for': forwarded } };
    try {
      limit(req as unknown as Request, res, () => undefined);
      return 'ok';
    } catch {
      return 'limited';
    }
  };
  const viaBalancer = [1, 2, 3].flatMap((c) =>
    [1, 2].map(() => send('127.0.0.1', `198.51.100.${c}`)),
  );
  t.deepEqual(viaBalancer, ['ok', 'ok', 'ok', 'ok', 'ok', 'ok'], 'three clients, two each');
  t.is(send('127.0.0.1', '198.51.100.1'), 'limited', 'the first client past its own limit');
  // A sender that is not the balancer cannot pick its key by writing the header.
  t.is(send('203.0.113.5', '198.51.100.50'), 'ok');
  t.is(send('203.0.113.5', '198.51.100.51'), 'ok');
  t.is(send('203.0.113.5', '198.51.100.52'), 'limited');
});
