import { execFile } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import dnsPacket from 'dns-packet';
import { discoverSite } from '../../src/agent/discovery.js';
import { tlsAgent, tlsFetch } from '../../src/agent/tls-fetch.js';

const run = promisify(execFile);

/**
 * A site known only to the DNS server named with --dns-server (issue 13 item 7): its SRV record
 * and its host's A record are both there, and the system resolver knows neither. The host's
 * address must come from the named server too.
 */
async function dnsServer(zone: { srv: string; target: string; address: string; port: number }) {
  const questions: string[] = [];
  const socket = dgram.createSocket('udp4');
  socket.on('message', (msg, from) => {
    const query = dnsPacket.decode(msg);
    const q = query.questions?.[0];
    const name = q?.name.toLowerCase() ?? '';
    questions.push(`${q?.type ?? '?'} ${name}`);
    const answers: dnsPacket.Answer[] =
      q?.type === 'SRV' && name === zone.srv
        ? [
            {
              type: 'SRV',
              name,
              ttl: 5,
              data: { priority: 0, weight: 1, port: zone.port, target: zone.target },
            },
          ]
        : q?.type === 'A' && name === zone.target
          ? [{ type: 'A', name, ttl: 5, data: zone.address }]
          : [];
    const answer = dnsPacket.encode({
      type: 'response',
      id: query.id ?? 0,
      flags: dnsPacket.AUTHORITATIVE_ANSWER | (answers.length > 0 ? 0 : 3),
      questions: query.questions ?? [],
      answers,
    });
    socket.send(answer, from.port, from.address);
  });
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
  return {
    address: `127.0.0.1:${socket.address().port}`,
    questions,
    close: () => new Promise<void>((r) => socket.close(() => r())),
  };
}

test('SRV targets are looked up through the --dns-server names', async (t) => {
  const dns = await dnsServer({
    srv: '_upcat._tcp.corp.invalid',
    target: 'upcat-site.corp.invalid',
    address: '127.0.0.7',
    port: 8530,
  });
  t.teardown(dns.close);
  const found = await discoverSite({
    domain: 'corp.invalid',
    dnsServers: [dns.address],
    env: {},
  });
  t.is(found.source, 'dns srv');
  t.deepEqual(found.candidates, ['http://127.0.0.7:8530']);
  t.deepEqual(dns.questions, ['SRV _upcat._tcp.corp.invalid', 'A upcat-site.corp.invalid']);
});

test('an SRV target the named server has no address for keeps its name', async (t) => {
  const dns = await dnsServer({
    srv: '_upcat._tcp.corp.invalid',
    target: 'elsewhere.example',
    address: '127.0.0.7',
    port: 8530,
  });
  t.teardown(dns.close);
  const found = await discoverSite({
    domain: 'corp.invalid',
    dnsServers: [dns.address],
    env: {},
    resolveSrv: async () => [{ name: 'nowhere.corp.invalid', port: 8530, priority: 0, weight: 1 }],
  });
  t.deepEqual(found.candidates, ['http://nowhere.corp.invalid:8530']);
});

test('an HTTPS SRV target keeps its name for the certificate and connects to the address the named server gave', async (t) => {
  // A certificate for the host name only: a connection made to the address by name would fail
  // verification, one made to the system resolver's idea of the name would not connect at all.
  const dir = await mkdtemp(path.join(os.tmpdir(), 'upcat-srv-tls-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    path.join(dir, 'key.pem'),
    '-out',
    path.join(dir, 'cert.pem'),
    '-days',
    '2',
    '-subj',
    '/CN=upcat-site.corp.invalid',
    '-addext',
    'subjectAltName=DNS:upcat-site.corp.invalid',
  ]);
  const cert = await readFile(path.join(dir, 'cert.pem'), 'utf8');
  const server = https.createServer(
    { key: await readFile(path.join(dir, 'key.pem')), cert },
    (req, res) => res.end(JSON.stringify({ host: req.headers.host })),
  );
  await new Promise<void>((r) => server.listen(8531, '127.0.0.9', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));

  const dns = await dnsServer({
    srv: '_upcat._tcp.corp.invalid',
    target: 'upcat-site.corp.invalid',
    address: '127.0.0.9',
    port: 8531,
  });
  t.teardown(dns.close);
  const found = await discoverSite({ domain: 'corp.invalid', dnsServers: [dns.address], env: {} });
  t.deepEqual(found.candidates, ['https://upcat-site.corp.invalid:8531']);
  t.deepEqual(dns.questions, ['SRV _upcat._tcp.corp.invalid', 'A upcat-site.corp.invalid']);

  const tls = { ca: cert };
  const res = await tlsFetch(
    `${found.url}/v1/site`,
    { method: 'GET', headers: {} },
    tls,
    tlsAgent(tls),
  );
  t.is(res.status, 200);
  t.deepEqual(await res.json(), { host: 'upcat-site.corp.invalid:8531' });
});
