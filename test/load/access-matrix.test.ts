import request from 'supertest';
import type { Express } from 'express';
import { createApp } from '../../src/server/app.js';
import { register, registration } from '../helpers/clients.js';
import { fileManifest, publishBytes } from '../helpers/publish.js';
import { dbTest } from '../helpers/site.js';
import { tokenOf } from '../helpers/tokens.js';
import { changedKeys, storedState } from './stored-state.js';

/**
 * Every HTTP route x every kind of caller (issue 13 item 8), against the table below, which is
 * the documentation of who may call what. Each probe is chosen so that a caller who gets past
 * authentication is still refused by the route itself (an unknown client or update: 404; an empty
 * body: 400): so the status alone tells "not allowed" (401/403) from "allowed" (anything else),
 * and nothing stored changes, which the test checks at the end.
 *
 * Columns: anonymous, pending client, approved client, blocked client (each sends its client
 * secret as a Bearer), and API tokens of scope publish, approve, admin.
 */
type Caller = 'anon' | 'pending' | 'approved' | 'blocked' | 'publish' | 'approve' | 'admin';
const CALLERS: readonly Caller[] = [
  'anon',
  'pending',
  'approved',
  'blocked',
  'publish',
  'approve',
  'admin',
];

type Row = [
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE',
  path: string,
  body: unknown,
  expected: number[],
];

const UNKNOWN = '00000000-0000-4000-8000-000000000000';
const SOAP = '<?xml version="1.0"?><x/>';

//                                                               anon pend appr blck publ apprv admn
const TABLE: Row[] = [
  // Public: the catalog, its trust anchors and registration answer anyone.
  ['GET', '/healthz', undefined, [200, 200, 200, 200, 200, 200, 200]],
  ['GET', '/v1/site', undefined, [200, 200, 200, 200, 200, 200, 200]],
  ['GET', '/v1/openapi.json', undefined, [200, 200, 200, 200, 200, 200, 200]],
  ['GET', '/pki/ca.pem', undefined, [200, 200, 200, 200, 200, 200, 200]],
  ['GET', '/tuf/timestamp.json', undefined, [200, 200, 200, 200, 200, 200, 200]],
  ['GET', '/tuf/1.root.json', undefined, [200, 200, 200, 200, 200, 200, 200]],
  ['GET', `/tuf/targets/${'0'.repeat(64)}.x`, undefined, [404, 404, 404, 404, 404, 404, 404]],
  ['GET', `/content/${'0'.repeat(64)}`, undefined, [404, 404, 404, 404, 404, 404, 404]],
  ['GET', '/catalog/v1/publisher.cer', undefined, [200, 200, 200, 200, 200, 200, 200]],
  ['POST', '/v1/clients', {}, [400, 400, 400, 400, 400, 400, 400]],
  ['POST', '/fsp/v1/status', {}, [400, 400, 400, 400, 400, 400, 400]],
  // Loopback mode (the default): callers on this host, whoever they are.
  ['GET', '/metrics', undefined, [200, 200, 200, 200, 200, 200, 200]],
  // Client routes: a client secret of a record that is not blocked; tokens are not clients.
  ['GET', '/v1/sync', undefined, [401, 200, 200, 403, 401, 401, 401]],
  ['POST', '/v1/status', {}, [401, 400, 400, 403, 401, 401, 401]],
  ['GET', `/v1/clients/${UNKNOWN}/certificate`, undefined, [401, 403, 403, 403, 401, 401, 401]],
  // Reads: any token (every scope implies read) lists clients and reads reports, JSON or CSV.
  ['GET', '/v1/clients', undefined, [401, 401, 401, 401, 200, 200, 200]],
  ['GET', `/v1/clients/${UNKNOWN}`, undefined, [401, 401, 401, 401, 404, 404, 404]],
  ['GET', '/v1/reports/revisions', undefined, [401, 401, 401, 401, 200, 200, 200]],
  ['GET', '/v1/reports/revisions?format=csv', undefined, [401, 401, 401, 401, 200, 200, 200]],
  ['GET', '/v1/reports/stale', undefined, [401, 401, 401, 401, 200, 200, 200]],
  ['GET', '/v1/reports/client-install-failures', undefined, [401, 401, 401, 401, 200, 200, 200]],
  ['GET', `/v1/reports/clients/${UNKNOWN}/history`, undefined, [401, 401, 401, 401, 404, 404, 404]],
  [
    'GET',
    `/v1/reports/history?updateId=${UNKNOWN}`,
    undefined,
    [401, 401, 401, 401, 404, 404, 404],
  ],
  // Operators (approve scope, or admin) approve, block, unblock and resolve clients.
  ['POST', `/v1/clients/${UNKNOWN}/approve`, undefined, [401, 401, 401, 401, 403, 404, 404]],
  ['POST', `/v1/clients/${UNKNOWN}/block`, undefined, [401, 401, 401, 401, 403, 404, 404]],
  ['POST', `/v1/clients/${UNKNOWN}/unblock`, undefined, [401, 401, 401, 401, 403, 404, 404]],
  ['POST', `/v1/clients/${UNKNOWN}/resolve`, {}, [401, 401, 401, 401, 403, 400, 400]],
  // Operator routes: approve scope (or admin) manages deployments...
  ['GET', '/v1/deployments', undefined, [401, 401, 401, 401, 200, 200, 200]],
  ['POST', '/v1/deployments', {}, [401, 401, 401, 401, 403, 400, 400]],
  ['PATCH', '/v1/deployments/1', {}, [401, 401, 401, 401, 403, 400, 400]],
  ['DELETE', '/v1/deployments/999999', undefined, [401, 401, 401, 401, 403, 404, 404]],
  // Groups (issue 14): any token reads them; approve (or admin) changes them.
  ['GET', '/v1/groups', undefined, [401, 401, 401, 401, 200, 200, 200]],
  ['GET', '/v1/groups/nope', undefined, [401, 401, 401, 401, 404, 404, 404]],
  ['POST', '/v1/groups', {}, [401, 401, 401, 401, 403, 400, 400]],
  ['PATCH', '/v1/groups/nope', {}, [401, 401, 401, 401, 403, 400, 400]],
  ['DELETE', '/v1/groups/nope', undefined, [401, 401, 401, 401, 403, 404, 404]],
  ['POST', '/v1/groups/nope/members', {}, [401, 401, 401, 401, 403, 400, 400]],
  ['DELETE', `/v1/groups/nope/members/${UNKNOWN}`, undefined, [401, 401, 401, 401, 403, 404, 404]],
  ['POST', '/v1/promotions', {}, [401, 401, 401, 401, 403, 400, 400]],
  // Rollouts and maintenance windows (issue 14 item 6): any token reads; approve changes.
  ['GET', '/v1/rollouts', undefined, [401, 401, 401, 401, 200, 200, 200]],
  ['GET', '/v1/rollouts/999999', undefined, [401, 401, 401, 401, 404, 404, 404]],
  ['POST', '/v1/rollouts', {}, [401, 401, 401, 401, 403, 400, 400]],
  ['POST', '/v1/rollouts/999999/pause', undefined, [401, 401, 401, 401, 403, 404, 404]],
  ['POST', '/v1/rollouts/999999/resume', undefined, [401, 401, 401, 401, 403, 404, 404]],
  ['POST', '/v1/rollouts/999999/stop', undefined, [401, 401, 401, 401, 403, 404, 404]],
  ['GET', '/v1/groups/nope/maintenance-window', undefined, [401, 401, 401, 401, 404, 404, 404]],
  ['DELETE', '/v1/groups/nope/maintenance-window', undefined, [401, 401, 401, 401, 403, 404, 404]],
  // ...publish scope (or admin) publishes and expires...
  ['POST', '/v1/updates', undefined, [401, 401, 401, 401, 400, 403, 400]],
  ['POST', `/v1/updates/${UNKNOWN}/expire`, undefined, [401, 401, 401, 401, 404, 403, 404]],
  // Updates (issue 14): any token lists and reads them; publish (or admin) declines.
  ['GET', '/v1/updates', undefined, [401, 401, 401, 401, 200, 200, 200]],
  ['GET', `/v1/updates/${UNKNOWN}`, undefined, [401, 401, 401, 401, 404, 404, 404]],
  ['POST', `/v1/updates/${UNKNOWN}/decline`, undefined, [401, 401, 401, 401, 404, 403, 404]],
  ['POST', `/v1/updates/${UNKNOWN}/undecline`, undefined, [401, 401, 401, 401, 404, 403, 404]],
  // ...and only admin manages tokens and reads the audit log.
  ['GET', '/v1/audit', undefined, [401, 401, 401, 401, 403, 403, 200]],
  ['GET', '/v1/tokens', undefined, [401, 401, 401, 401, 403, 403, 200]],
  ['POST', '/v1/tokens', {}, [401, 401, 401, 401, 403, 403, 400]],
  ['DELETE', `/v1/tokens/${UNKNOWN}`, undefined, [401, 401, 401, 401, 403, 403, 404]],
  // People's accounts (issue 14 item 4): only admin; sessions are not opened by a Bearer token
  // (GET /v1/session is 401 for every token); an empty login is a 400, a logout without a session a 204.
  ['GET', '/v1/users', undefined, [401, 401, 401, 401, 403, 403, 200]],
  ['POST', '/v1/users', {}, [401, 401, 401, 401, 403, 403, 400]],
  ['DELETE', '/v1/users/nobody', undefined, [401, 401, 401, 401, 403, 403, 404]],
  ['POST', '/v1/users/nobody/password', {}, [401, 401, 401, 401, 403, 403, 400]],
  ['GET', '/v1/session', undefined, [401, 401, 401, 401, 401, 401, 401]],
  ['POST', '/v1/session', {}, [400, 400, 400, 400, 400, 400, 400]],
  ['DELETE', '/v1/session', undefined, [204, 204, 204, 204, 204, 204, 204]],
  // MS-WUSP (issue 12): SOAP authenticates by its own cookies, not by HTTP headers; a body that is
  // not a SOAP envelope is a SOAP fault (HTTP 500 by SOAP 1.1 section 6.2) for everyone.
  ['POST', '/ClientWebService/client.asmx', SOAP, [500, 500, 500, 500, 500, 500, 500]],
  ['POST', '/SimpleAuthWebService/SimpleAuth.asmx', SOAP, [500, 500, 500, 500, 500, 500, 500]],
  [
    'POST',
    '/ReportingWebService/ReportingWebService.asmx',
    SOAP,
    [500, 500, 500, 500, 500, 500, 500],
  ],
  ['GET', `/Content/00/${'0'.repeat(40)}.cab`, undefined, [404, 404, 404, 404, 404, 404, 404]],
  // Anything else is 404 for everyone.
  ['GET', '/v1/nothing-here', undefined, [404, 404, 404, 404, 404, 404, 404]],
];

function send(app: Express, row: Row, auth: string | undefined): request.Test {
  const [method, path, body] = row;
  let req =
    method === 'GET'
      ? request(app).get(path)
      : method === 'PATCH'
        ? request(app).patch(path)
        : method === 'DELETE'
          ? request(app).delete(path)
          : request(app).post(path);
  if (auth !== undefined) req = req.set('Authorization', `Bearer ${auth}`);
  if (typeof body === 'string') req = req.set('Content-Type', 'text/xml').send(body);
  else if (body !== undefined) req = req.send(body as object);
  return req;
}

dbTest('access matrix: every route x every kind of caller', async (t, { site }) => {
  await publishBytes(site, 'payload', fileManifest('a.bin'), 'a.bin');
  const app = createApp(site);
  const admin = await tokenOf(site, 'admin');
  const reg = async (hw: string): Promise<string> => {
    const res = await register(app, registration({ hardwareId: hw, name: hw }));
    t.is(res.status, 201, JSON.stringify(res.body));
    return res.body.clientId + '\u0000' + res.body.secret;
  };
  const change = async (id: string, what: 'approve' | 'block'): Promise<void> => {
    const res = await request(app)
      .post(`/v1/clients/${id}/${what}`)
      .set('Authorization', `Bearer ${admin}`);
    t.is(res.status, 200, JSON.stringify(res.body));
  };
  const [pendingId, pending] = (await reg('hw-pending')).split('\u0000') as [string, string];
  const [approvedId, approved] = (await reg('hw-approved')).split('\u0000') as [string, string];
  const [blockedId, blocked] = (await reg('hw-blocked')).split('\u0000') as [string, string];
  t.truthy(pendingId);
  await change(approvedId, 'approve');
  await change(blockedId, 'approve');
  await change(blockedId, 'block');
  const auth: Record<Caller, string | undefined> = {
    anon: undefined,
    pending,
    approved,
    blocked,
    publish: await tokenOf(site, 'publish'),
    approve: await tokenOf(site, 'approve'),
    admin,
  };

  // The first sync makes the policy-signing key (lazily, once): before the snapshot.
  t.is((await request(app).get('/v1/sync').set('Authorization', `Bearer ${approved}`)).status, 200);
  const before = await storedState(site);
  const mismatches: string[] = [];
  for (const row of TABLE) {
    for (const [i, caller] of CALLERS.entries()) {
      const res = await send(app, row, auth[caller]);
      if (res.status !== row[3][i])
        mismatches.push(
          `${row[0]} ${row[1]} as ${caller}: ${res.status}, table says ${row[3][i]} (${res.text.slice(0, 120)})`,
        );
    }
  }
  t.deepEqual(mismatches, [], 'every answer is the one the table documents');
  t.deepEqual(changedKeys(before, await storedState(site)), [], 'nothing stored changed');
  t.log(`${TABLE.length} routes x ${CALLERS.length} callers checked`);
});
