import fc from 'fast-check';
import request from 'supertest';
import { createApp } from '../../src/server/app.js';
import { register, registration } from '../helpers/clients.js';
import { fileManifest, publishBytes } from '../helpers/publish.js';
import { dbTest } from '../helpers/site.js';
import { tokenOf } from '../helpers/tokens.js';
import { changedKeys, storedState } from './stored-state.js';

/**
 * Every HTTP route fuzzed (issue 13 item 8): methods, paths with hostile segments, headers and
 * bodies (arbitrary bytes, arbitrary JSON, and near-valid bodies with fields replaced), sent as
 * every kind of caller. No answer is a 500 (but a SOAP fault on the MS-WUSP routes, which SOAP 1.1
 * sends as 500 with a Fault body), every request is answered within its time limit, and a request
 * that is refused (4xx) changes nothing stored. Case counts are fixed so the run stays short.
 */
const RUNS = 600;

const WUSP = /^\/(clientwebservice|simpleauthwebservice|reportingwebservice)\//i;
const ID = '00000000-0000-4000-8000-000000000000';

const segment: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    ID,
    '..',
    '%2e%2e',
    '%00',
    '%ff',
    '%',
    'a'.repeat(3000),
    '0'.repeat(64),
    '1.root.json',
    'timestamp.json',
    '\u00e9',
    ' ',
  ),
  fc.string({ maxLength: 40 }).map(encodeURIComponent),
);

const ROUTES: ReadonlyArray<(s: string) => string> = [
  () => '/healthz',
  () => '/v1/site',
  () => '/v1/openapi.json',
  () => '/pki/ca.pem',
  () => '/pki/crl',
  (s) => `/tuf/${s}`,
  (s) => `/tuf/targets/${s}`,
  (s) => `/tuf/targets/${s}/${s}`,
  (s) => `/content/${s}`,
  () => '/catalog/v1/upcat.cab',
  () => '/catalog/v1/publisher.cer',
  () => '/metrics',
  () => '/v1/clients',
  (s) => `/v1/clients/${s}/certificate`,
  (s) => `/v1/clients/${s}/approve`,
  (s) => `/v1/clients/${s}/block`,
  (s) => `/v1/clients/${s}/unblock`,
  (s) => `/v1/clients/${s}/resolve`,
  () => '/v1/sync',
  () => '/v1/status',
  () => '/fsp/v1/status',
  () => '/v1/reports/revisions',
  () => '/v1/reports/stale',
  () => '/v1/reports/client-install-failures',
  (s) => `/v1/reports/clients/${s}/history`,
  () => '/v1/deployments',
  () => '/v1/promotions',
  () => '/v1/updates',
  (s) => `/v1/updates/${s}/expire`,
  () => '/v1/audit',
  () => '/ClientWebService/client.asmx',
  () => '/SimpleAuthWebService/SimpleAuth.asmx',
  () => '/ReportingWebService/ReportingWebService.asmx',
  (s) => `/Content/${s}/${s}`,
  (s) => `/${s}`,
];

/** Near-valid bodies of the JSON routes, with some fields replaced by arbitrary values. */
const VALID: Record<string, unknown>[] = [
  registration({ hardwareId: 'hw-fuzz', group: 'Ring 1' }),
  { messages: [{ id: 'm', topic: 'update', state: 'installed', updateId: ID }] },
  { updateId: ID, group: 'Ring 1', deadline: '2030-01-01T00:00:00Z' },
  { updateId: ID, from: 'Ring 1', to: 'Ring 2' },
  { id: 'm', topic: 'client', state: 'cannot_reach_site', siteId: 'x' },
];
const hostile = fc.oneof(
  fc.jsonValue(),
  fc.constantFrom('\u0000', 'a'.repeat(70_000), -1, 2 ** 53, 1e308, '', [], {}, '../../etc/passwd'),
);
const nearValid: fc.Arbitrary<unknown> = fc
  .tuple(fc.constantFrom(...VALID), fc.dictionary(fc.string({ maxLength: 12 }), hostile))
  .chain(([base, extra]) =>
    fc.subarray(Object.keys(base)).map((keep) => ({
      ...Object.fromEntries(keep.map((k) => [k, base[k]])),
      ...extra,
    })),
  );
const body = fc.oneof(
  fc.constant(undefined),
  fc.jsonValue().map((v) => JSON.stringify(v)),
  nearValid.map((v) => JSON.stringify(v)),
  fc.uint8Array({ maxLength: 2048 }).map((b) => Buffer.from(b)),
  fc.constantFrom('{', '{"a":', '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>'),
);
const contentType = fc.constantFrom(
  undefined,
  'application/json',
  'application/json; charset=utf-16',
  'text/xml; charset=utf-8',
  'application/octet-stream',
  'multipart/form-data; boundary=x',
  'application/x-www-form-urlencoded',
  '\u00ff',
);

dbTest('fuzz: every HTTP route as every caller', async (t, { site }) => {
  t.timeout(600_000);
  await publishBytes(site, 'payload', fileManifest('a.bin'), 'a.bin');
  const app = createApp(site);
  const admin = await tokenOf(site, 'admin');
  const pending = (await register(app, registration({ hardwareId: 'hw-p' }))).body.secret;
  const approvedReg = (await register(app, registration({ hardwareId: 'hw-a' }))).body;
  await request(app)
    .post(`/v1/clients/${approvedReg.clientId}/approve`)
    .set('Authorization', `Bearer ${admin}`);
  // The first sync makes the policy key and the first GET the catalog CAB (once, lazily, as
  // caches of what is published): before any snapshot.
  await request(app).get('/v1/sync').set('Authorization', `Bearer ${approvedReg.secret}`);
  t.is((await request(app).get('/catalog/v1/upcat.cab')).status, 200);
  const callers = [
    undefined,
    pending,
    approvedReg.secret,
    await tokenOf(site, 'publish'),
    await tokenOf(site, 'approve'),
    admin,
    'garbage-token',
  ];

  const failures: string[] = [];
  let cases = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS', 'PATCH'),
      fc.constantFrom(...ROUTES),
      segment,
      fc.constantFrom(...callers),
      contentType,
      body,
      async (method, route, seg, caller, type, payload) => {
        cases++;
        const url = route(seg);
        const before = await storedState(site);
        let req = request(app)[method.toLowerCase() as 'get'](url).timeout(20_000);
        if (caller !== undefined) req = req.set('Authorization', `Bearer ${caller}`);
        if (type !== undefined) req = req.set('Content-Type', type);
        let status: number;
        let text: string;
        try {
          const res = payload === undefined ? await req : await req.send(payload);
          status = res.status;
          text = res.text ?? '';
        } catch (err) {
          const e = err as { status?: number; response?: { text?: string }; message?: string };
          if (e.status === undefined) {
            failures.push(`${method} ${url}: no answer (${e.message ?? String(err)})`);
            return;
          }
          status = e.status;
          text = e.response?.text ?? '';
        }
        const soapFault = WUSP.test(url) && /Fault/.test(text);
        if (status >= 500 && !soapFault)
          failures.push(`${method} ${url} as ${caller ?? 'anon'}: ${status} ${text.slice(0, 160)}`);
        if (status >= 400) {
          const changed = changedKeys(before, await storedState(site));
          if (changed.length > 0)
            failures.push(`${method} ${url}: refused ${status} yet changed ${changed.join(', ')}`);
        }
      },
    ),
    { numRuns: RUNS, seed: 13 },
  );
  t.deepEqual(failures.slice(0, 10), [], `${failures.length} failures`);
  t.log(`${cases} fuzzed requests`);
});
