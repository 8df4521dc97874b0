import test from 'ava';
import { discoverSite, searchDomain } from '../../../src/agent/discovery.js';

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

test('SRV: the lowest priority, then the highest weight; 8531 means https; domain from resolv.conf', async (t) => {
  const dns = srv([
    { name: 'b.corp.example.', port: 8530, priority: 10, weight: 100 },
    { name: 'a.corp.example.', port: 8531, priority: 5, weight: 1 },
    { name: 'c.corp.example.', port: 8530, priority: 5, weight: 50 },
  ]);
  const found = await discoverSite({
    env: {},
    resolveSrv: dns.resolveSrv,
    readResolvConf: resolv('nameserver 10.0.0.1\nsearch corp.example other.example\n'),
  });
  t.deepEqual(found, { url: 'http://c.corp.example:8530', source: 'dns srv' });
  t.deepEqual(dns.asked, ['_upcat._tcp.corp.example']);
  const tls = srv([{ name: 'a.corp.example.', port: 8531, priority: 0, weight: 0 }]);
  t.like(await discoverSite({ env: {}, domain: 'corp.example', resolveSrv: tls.resolveSrv }), {
    url: 'https://a.corp.example:8531',
  });
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
