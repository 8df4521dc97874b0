import test from 'ava';
import { discoverSite, orderSrv, searchDomain } from '../../../src/agent/discovery.js';

const srv = (records: Array<{ name: string; port: number; priority: number; weight: number }>) => {
  const asked: string[] = [];
  return {
    asked,
    resolveSrv: (name: string) => {
      asked.push(name);
      return Promise.resolve(records);
    },
  };
};
const resolv = (text: string) => () => Promise.resolve(text);

test('precedence: command line, then agent.json, then UPCAT_SERVER, then DNS SRV', async (t) => {
  const dns = srv([{ name: 'dns.example.com', port: 8530, priority: 0, weight: 0 }]);
  const base = {
    env: { UPCAT_SERVER: 'http://env:8530' },
    resolveSrv: dns.resolveSrv,
    domain: 'example.com',
  };
  t.deepEqual(
    await discoverSite({ ...base, flag: 'http://flag:1/', provisioned: 'http://prov:2' }),
    {
      url: 'http://flag:1',
      source: 'command line',
      candidates: ['http://flag:1'],
    },
  );
  t.like(await discoverSite({ ...base, provisioned: 'http://prov:2' }), {
    url: 'http://prov:2',
    source: 'agent.json',
  });
  t.like(await discoverSite(base), { url: 'http://env:8530', source: 'UPCAT_SERVER' });
  t.deepEqual(dns.asked, []);
  t.like(await discoverSite({ ...base, env: {} }), {
    url: 'http://dns.example.com:8530',
    source: 'dns srv',
  });
  t.deepEqual(dns.asked, ['_upcat._tcp.example.com']);
});

test('SRV: lowest priority first, weighted random within it; 8531 means https; domain from resolv.conf', async (t) => {
  const dns = srv([
    { name: 'b.corp.example.', port: 8530, priority: 10, weight: 100 },
    { name: 'a.corp.example.', port: 8531, priority: 5, weight: 1 },
    { name: 'c.corp.example.', port: 8530, priority: 5, weight: 50 },
  ]);
  // random 0.5: of weights 1 and 50, pick = floor(0.5 * 52) = 26, past a's running sum (1).
  const found = await discoverSite({
    env: {},
    resolveSrv: dns.resolveSrv,
    readResolvConf: resolv('nameserver 10.0.0.1\nsearch corp.example other.example\n'),
    random: () => 0.5,
  });
  t.deepEqual(found, {
    url: 'http://c.corp.example:8530',
    source: 'dns srv',
    candidates: [
      'http://c.corp.example:8530',
      'https://a.corp.example:8531',
      'http://b.corp.example:8530',
    ],
  });
  t.deepEqual(dns.asked, ['_upcat._tcp.corp.example']);
  // random 0: pick 0, the first in the list: the lighter record can come first too.
  t.deepEqual(
    (
      await discoverSite({
        env: {},
        domain: 'corp.example',
        resolveSrv: dns.resolveSrv,
        random: () => 0,
      })
    ).candidates,
    ['https://a.corp.example:8531', 'http://c.corp.example:8530', 'http://b.corp.example:8530'],
  );
  const tls = srv([{ name: 'a.corp.example.', port: 8531, priority: 0, weight: 0 }]);
  t.like(await discoverSite({ env: {}, domain: 'corp.example', resolveSrv: tls.resolveSrv }), {
    url: 'https://a.corp.example:8531',
  });
});

test('RFC 2782 weighting: each record of a priority comes first in proportion to its weight', (t) => {
  const records = [
    { name: 'zero', port: 1, priority: 1, weight: 0 },
    { name: 'light', port: 1, priority: 1, weight: 10 },
    { name: 'heavy', port: 1, priority: 1, weight: 30 },
    { name: 'backup', port: 1, priority: 2, weight: 100 },
  ];
  // A fixed sequence over [0, 1): every possible pick in [0, 40] once.
  const firsts: Record<string, number> = {};
  for (let pick = 0; pick <= 40; pick++) {
    const order = orderSrv(records, () => pick / 41 + 1e-9);
    firsts[order[0]?.name ?? ''] = (firsts[order[0]?.name ?? ''] ?? 0) + 1;
    t.is(order.at(-1)?.name, 'backup', 'a higher priority value always comes last');
    t.is(order.length, 4);
  }
  // Weight 0 comes first only for pick 0; light for picks 1-10; heavy for 11-40.
  t.deepEqual(firsts, { zero: 1, light: 10, heavy: 30 });
});

test('SRV target "." means no service; a failing record is skipped by the caller', async (t) => {
  const none = srv([{ name: '.', port: 0, priority: 0, weight: 0 }]);
  const err = await t.throwsAsync(
    discoverSite({ env: {}, domain: 'corp.example', resolveSrv: none.resolveSrv }),
  );
  t.regex(err?.message ?? '', /says there is no such service: its target is "\."/);
  t.like(
    await discoverSite({
      env: {},
      domain: 'corp.example',
      resolveSrv: none.resolveSrv,
      remembered: 'http://kept:8530',
    }),
    { source: 'state', url: 'http://kept:8530' },
  );
});

test('DNS servers: --dns-server beats UPCAT_DNS_SERVERS; a bad one is a clear error', async (t) => {
  await t.throwsAsync(
    discoverSite({ env: { UPCAT_DNS_SERVERS: 'not-an-ip' }, domain: 'corp.example' }),
    { message: /UPCAT_DNS_SERVERS: "not-an-ip" is not a list of IP or IP:PORT/ },
  );
  await t.throwsAsync(
    discoverSite({
      env: { UPCAT_DNS_SERVERS: '127.0.0.1:53' },
      dnsServers: ['nope'],
      domain: 'corp.example',
    }),
    { message: /"nope"/ },
  );
});

test('DNS silent: the remembered site, else an error that says what to do', async (t) => {
  const failing = () => Promise.reject(new Error('ENOTFOUND'));
  t.like(
    await discoverSite({
      env: {},
      domain: 'x.example',
      resolveSrv: failing,
      remembered: 'http://kept:8530',
    }),
    {
      source: 'state',
    },
  );
  const err = await t.throwsAsync(
    discoverSite({ env: {}, resolveSrv: failing, readResolvConf: resolv('') }),
  );
  t.regex(err?.message ?? '', /--server URL.*UPCAT_SERVER.*_upcat\._tcp/);
  await t.throwsAsync(discoverSite({ flag: 'ftp://x' }), { message: /http or https/ });
  await t.throwsAsync(discoverSite({ flag: 'not a url' }), { message: /not a URL/ });
});

test('searchDomain reads the last search or domain line', async (t) => {
  t.is(await searchDomain(resolv('domain a.example\nsearch b.example c.example\n')), 'b.example');
  t.is(await searchDomain(resolv('nameserver 1.1.1.1\n')), undefined);
  t.is(await searchDomain(() => Promise.reject(new Error('ENOENT'))), undefined);
});
