import http from 'node:http';
import type { AddressInfo } from 'node:net';
import test from 'ava';
import { SiteClient } from '../../../src/agent/site-client.js';

/** Records each request's method, path and Upcat-Hardware-Id header; answers what each route wants. */
async function recorder() {
  const seen: Array<{ method: string; path: string; hardwareId: string | undefined }> = [];
  const server = http.createServer((req, res) => {
    const h = req.headers['upcat-hardware-id'];
    seen.push({
      method: req.method ?? '',
      path: (req.url ?? '').split('?')[0] ?? '',
      hardwareId: Array.isArray(h) ? h.join(',') : h,
    });
    req.resume();
    req.on('end', () => {
      if (req.url?.startsWith('/v1/sync') === true) res.writeHead(304).end();
      else res.writeHead(202, { 'content-type': 'application/json' }).end('{"received":1}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    seen,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

test('GET /v1/sync and POST /v1/status carry Upcat-Hardware-Id; the fallback status point does not need it', async (t) => {
  const srv = await recorder();
  t.teardown(srv.close);
  const site = new SiteClient(srv.url, 'secret');
  site.identify('hw-4242');
  await site.sync('anchor-1');
  await site.status([{ id: 'm1', topic: 'client', state: 'cannot_reach_site' }]);
  await site.fallbackStatus({ hardwareId: 'hw-4242', name: 'pc', clientVersion: '1.0.0' }, [
    { id: 'm2', topic: 'client', state: 'cannot_reach_site' },
  ]);
  t.deepEqual(srv.seen, [
    { method: 'GET', path: '/v1/sync', hardwareId: 'hw-4242' },
    { method: 'POST', path: '/v1/status', hardwareId: 'hw-4242' },
    { method: 'POST', path: '/fsp/v1/status', hardwareId: undefined },
  ]);
});

test('a client not yet told its hardware ID sends no header', async (t) => {
  const srv = await recorder();
  t.teardown(srv.close);
  await new SiteClient(srv.url, 'secret').sync(undefined);
  t.deepEqual(srv.seen, [{ method: 'GET', path: '/v1/sync', hardwareId: undefined }]);
});
