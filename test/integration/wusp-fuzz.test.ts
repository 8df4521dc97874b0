/**
 * A little fuzzing of the SOAP endpoints (issue 12 item 8): mutated requests (bytes flipped,
 * cut, repeated, numbers and dates out of range, wrong actions) get either an answer or a SOAP
 * fault with a protocol ErrorCode, never a crash (a fault for an unexpected error is
 * InternalServerError, which none of these may cause), never an HTTP status other than 200 and
 * 500 (413 for an oversized body), and never a hang.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { dbTest } from '../helpers/site.js';
import { NS, readSoap, serve, WuaSimulator, type Service } from '../helpers/wua-simulator.js';

const FIXTURES = path.join(
  path.dirname(fileURLToPath(import.meta.url)),
  '..',
  'fixtures',
  'wusp',
  'section4',
);
const PATH: Record<Service, string> = {
  client: '/ClientWebService/client.asmx',
  simpleAuth: '/SimpleAuthWebService/SimpleAuth.asmx',
  reporting: '/ReportingWebService/ReportingWebService.asmx',
};
const SAMPLES: Array<[string, Service, string]> = [
  ['01-GetConfig.xml', 'client', 'GetConfig'],
  ['02-GetAuthorizationCookie.xml', 'simpleAuth', 'GetAuthorizationCookie'],
  ['03-GetCookie.xml', 'client', 'GetCookie'],
  ['04-RegisterComputer.xml', 'client', 'RegisterComputer'],
  ['05-RefreshCache.xml', 'client', 'RefreshCache'],
  ['06-GetFileLocations.xml', 'client', 'GetFileLocations'],
  ['08-SyncUpdates-second.xml', 'client', 'SyncUpdates'],
  ['09-ReportEventBatch-148.xml', 'reporting', 'ReportEventBatch'],
];

/** A small deterministic generator (mulberry32), so a failure can be replayed. */
function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

const ODD_VALUES = [
  '-1',
  '99999999999999999999',
  '1e9',
  '',
  ' ',
  'NaN',
  '0x10',
  '&amp;',
  '<![CDATA[x]]>',
  '2006-13-45T99:99:99',
  'true',
  '\u0000',
  '\ud800',
];

function mutate(text: string, rnd: () => number): string {
  const at = Math.floor(rnd() * text.length);
  switch (Math.floor(rnd() * 7)) {
    case 0:
      return text.slice(0, at);
    case 1:
      return text.slice(0, at) + String.fromCharCode(Math.floor(rnd() * 128)) + text.slice(at + 1);
    case 2: {
      const end = Math.min(text.length, at + Math.floor(rnd() * 400));
      return (
        text.slice(0, end) +
        text.slice(at, end).repeat(1 + Math.floor(rnd() * 20)) +
        text.slice(end)
      );
    }
    case 3:
      // Replace the text of one element with an odd value.
      return text.replace(/>([^<>]+)</g, (m, _v: string, offset: number) =>
        offset >= at && offset < at + 200
          ? `>${ODD_VALUES[Math.floor(rnd() * ODD_VALUES.length)] ?? ''}<`
          : m,
      );
    case 4:
      return text.replace('xsi:nil="1"', 'xsi:nil="maybe"').replace('soap:Body', 'soap:Bodx');
    case 5:
      return text.replace(
        /<int>\d+<\/int>/g,
        () => `<int>${Math.floor(rnd() * 2 ** 33) - 2 ** 32}</int>`,
      );
    default:
      return text.slice(0, at) + '<x>'.repeat(30) + text.slice(at);
  }
}

dbTest(
  'mutated SOAP requests get answers or protocol faults, never a crash or a hang',
  async (t, { site }) => {
    site.config.site.approval = 'auto-all';
    const server = await serve(site);
    try {
      const wua = new WuaSimulator(server.url);
      await wua.connect();
      const live = wua.cookie?.data ?? '';
      const rnd = prng(12);
      let faults = 0;
      for (let i = 0; i < 240; i++) {
        const [file, service, op] = SAMPLES[i % SAMPLES.length] as [string, Service, string];
        // Half the requests carry a live cookie, so mutations reach the operations themselves.
        let body = await readFile(path.join(FIXTURES, file), 'utf8');
        if (i % 2 === 0)
          body = body.replace(
            /<EncryptedData>[^<]*<\/EncryptedData>/,
            `<EncryptedData>${live}</EncryptedData>`,
          );
        const mutated = mutate(body, rnd);
        const action = rnd() < 0.1 ? `"${NS[service]}/Nope"` : `"${NS[service]}/${op}"`;
        const res = await fetch(`${server.url}${PATH[service]}`, {
          method: 'POST',
          headers: { 'Content-Type': 'text/xml; charset=utf-8', SOAPAction: action },
          body: mutated,
          signal: AbortSignal.timeout(10_000),
        });
        t.true(res.status === 200 || res.status === 500, `case ${i}: HTTP ${res.status}`);
        t.is(res.headers.get('content-type'), 'text/xml; charset=utf-8');
        const answer = await readSoap(res);
        if (res.status === 500) {
          faults += 1;
          t.truthy(answer.fault, `case ${i}: a 500 is a SOAP fault`);
          t.not(
            answer.fault?.errorCode,
            'InternalServerError',
            `case ${i}: ${answer.fault?.message ?? ''}\n${mutated.slice(0, 300)}`,
          );
        } else {
          t.is(answer.body.local, `${op}Response`);
        }
      }
      t.true(faults > 100);
      // After all that, the server still answers a well-formed request.
      await t.notThrowsAsync(wua.syncOnce());
    } finally {
      await server.close();
    }
  },
);

dbTest('other methods, paths and bodies on the SOAP routes', async (t, { site }) => {
  const server = await serve(site);
  try {
    const big = await fetch(`${server.url}/ClientWebService/client.asmx`, {
      method: 'POST',
      headers: { SOAPAction: `"${NS.client}/GetConfig"`, 'Content-Type': 'text/xml' },
      body: 'x'.repeat(5 * 1024 * 1024),
    });
    t.is(big.status, 500);
    t.is((await readSoap(big)).fault?.errorCode, 'InvalidParameters');
    for (const p of ['/clientwebservice/CLIENT.ASMX', '/SIMPLEAUTHWEBSERVICE/simpleauth.asmx']) {
      const res = await fetch(`${server.url}${p}`, {
        method: 'POST',
        headers: { SOAPAction: '"x"' },
        body: '<a/>',
      });
      t.is(res.status, 500, `${p} is matched case-insensitively`);
      t.is((await readSoap(res)).fault?.errorCode, 'InvalidParameters');
    }
    const missing = await fetch(`${server.url}/Content/ab/${'0'.repeat(38)}ab.cab`);
    t.is(missing.status, 404);
  } finally {
    await server.close();
  }
});
